//! `sharesim learn`: every bundled lesson loads, runs and has answers read from its
//! run; a learner's choices of held messages reorder a race and pause it when they run
//! out; bad lesson files and bad addresses are refused with what is wrong; and in
//! headless Chromium a learner finishes a lesson by answering its questions, and picks
//! the order of held messages in the race lesson. Screenshots go to
//! `target/tmp/browser/` (`lesson.png` is the README's).

use crate::browser::chromium;
use crate::devtools::{Browser, shows};
use crate::support::sharesim;
use sharesim::drivers::learn::{self, QuestionKind, Variant, run_lesson};
use sharesim::drivers::scenario::run::{RunSettings, run};
use std::path::Path;
use std::sync::Arc;

fn course() -> Vec<learn::Lesson> {
    // Relative, as `sharesim learn` reads it from the repository (cargo runs the tests
    // there), so pages name `scenarios/…` files as a learner sees them.
    learn::load_course(Path::new("lessons"))
        .unwrap_or_else(|errors| panic!("the bundled course is valid: {errors:#?}"))
}

#[tokio::test]
async fn every_bundled_lesson_runs_and_reads_its_answers_from_the_run() {
    let lessons = course();
    assert!(lessons.len() >= 8, "{} lessons", lessons.len());
    let mut kinds = std::collections::BTreeSet::new();
    for lesson in &lessons {
        let main = run_lesson(lesson, &Variant::Main { choices: vec![] })
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", lesson.slug));
        assert!(
            main.outcome.failure.is_none(),
            "{}: {:?}",
            lesson.slug,
            main.outcome.failure
        );
        for (index, question) in lesson.questions.iter().enumerate() {
            kinds.insert(format!("{:?}", question.kind));
            match question.kind {
                QuestionKind::Predict => {
                    let (options, answer) = learn::prediction(question, &main.outcome);
                    let answer = answer.unwrap_or_else(|| panic!("{}: no answer", lesson.slug));
                    assert!(
                        options.contains(&answer.as_str()),
                        "{}: {answer}",
                        lesson.slug
                    );
                }
                QuestionKind::Choose => {
                    for (choice, offered) in question.choices.iter().enumerate() {
                        if offered.step.is_none() {
                            continue;
                        }
                        let tried = run_lesson(
                            lesson,
                            &Variant::Try {
                                question: index,
                                choice,
                            },
                        )
                        .await
                        .unwrap_or_else(|e| panic!("{}: {e}", lesson.slug));
                        assert_eq!(tried.outcome.steps.len(), question.step, "{}", lesson.slug);
                        assert_eq!(
                            tried.outcome.steps.last().and_then(|s| s.note.clone()),
                            Some(format!("You chose: {}", offered.label))
                        );
                    }
                }
                QuestionKind::Order => {
                    let paused = main
                        .outcome
                        .paused
                        .as_ref()
                        .expect("the race pauses for a choice");
                    assert_eq!(paused.step, question.step);
                    assert_eq!(paused.held.len(), 2, "{:?}", paused.held);
                }
            }
        }
    }
    assert_eq!(
        kinds.len(),
        3,
        "the course asks every kind of question: {kinds:?}"
    );
}

#[tokio::test]
async fn the_learners_choices_order_the_held_messages_and_pause_when_they_run_out() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/races/15-you-choose-who-arrives-first.toml");
    let scenario = sharesim::drivers::scenario::load(&file).expect("valid");
    let with = |choices: Vec<usize>| RunSettings {
        seed: Some(0),
        snapshots: true,
        choices: Some(choices),
        ..RunSettings::default()
    };
    let paused = run(&scenario, &with(vec![])).await;
    let held = &paused.paused.as_ref().expect("paused").held;
    assert_eq!(held.len(), 2);
    assert!(paused.failure.is_none());
    assert_eq!(paused.steps.len(), 4, "the run stops in the group's step");
    // Which message is which, by the list the learner sees.
    let acceptance = 1 + held.iter().position(|m| m.from == "globex").unwrap();
    let deactivation = 1 + held.iter().position(|m| m.from == "acme").unwrap();

    let one = run(&scenario, &with(vec![acceptance])).await;
    let left = &one.paused.as_ref().expect("paused again").held;
    assert_eq!((left.len(), left[0].from.as_str()), (1, "acme"));

    for (order, first) in [
        (vec![acceptance, 1], "globex"),
        (vec![deactivation, 1], "acme"),
    ] {
        let done = run(&scenario, &with(order.clone())).await;
        assert!(
            done.passed() && done.paused.is_none(),
            "{order:?}: {:?}",
            done.failure
        );
        let chosen: Vec<&str> = done
            .trace
            .iter()
            .filter(|e| e.detail.starts_with("the learner delivers"))
            .map(|e| e.detail.as_str())
            .collect();
        assert_eq!(chosen.len(), 2, "{chosen:?}");
        assert!(
            chosen[0].starts_with(&format!("the learner delivers {first}'s PUT")),
            "{chosen:?}"
        );
        assert!(chosen[0].contains("release = { from = \""), "{chosen:?}");
    }
    let wrong = run(&scenario, &with(vec![3])).await;
    let failure = wrong.failure.expect("a choice past the list fails");
    assert!(
        failure
            .message
            .starts_with("choice 3: 2 message(s) are held"),
        "{}",
        failure.message
    );
}

#[test]
fn learn_list_prints_the_course_and_bad_lessons_are_refused_with_what_is_wrong() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = sharesim(&["learn", "--list"], root);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(" 1. One-way: only the sender shares"),
        "{stdout}"
    );
    assert!(stdout.contains("scenario: scenarios/races/15-you-choose-who-arrives-first.toml"));
    assert!(stdout.trim_end().ends_with("8 lesson(s)"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let scenario = root.join("scenarios/agreements/01-invite-and-accept.toml");
    let lesson = |body: &str| {
        format!(
            "title = \"t\"\ngoal = \"g\"\nscenario = {:?}\n{body}",
            scenario.display().to_string()
        )
    };
    for (name, body, expected) in [
        (
            "a.toml",
            lesson(
                "[[questions]]\nstep = 99\nkind = \"predict\"\nprompt = \"p\"\npredict = { account = \"acme\", agreement = \"esc\" }\n",
            ),
            "question 1 (step 99) names step 99, but the scenario has steps 1 to 5",
        ),
        (
            "b.toml",
            lesson(
                "[[questions]]\nstep = 2\nkind = \"predict\"\nprompt = \"p\"\npredict = { account = \"acme\", agreement = \"nope\" }\n",
            ),
            "no step of the scenario defines the agreement handle \"nope\"",
        ),
        (
            "c.toml",
            lesson("[[questions]]\nstep = 2\nkind = \"order\"\nprompt = \"p\"\n"),
            "an `order` question sits on a `concurrently` step",
        ),
        (
            "d.toml",
            lesson(
                "[[questions]]\nstep = 2\nkind = \"choose\"\nprompt = \"p\"\n[[questions.choices]]\nlabel = \"a\"\n[[questions.choices]]\nlabel = \"b\"\nstep = { respond = { account = \"initech\", agreement = \"esc\", status = \"accepted\" } }\n",
            ),
            "choice 2 (\"b\"): ",
        ),
        ("e.toml", lesson("colour = 1\n"), "unknown field `colour`"),
    ] {
        let folder = dir.path().join(name.trim_end_matches(".toml"));
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join(name), body).unwrap();
        let output = sharesim(
            &["learn", "--list", "--lessons", folder.to_str().unwrap()],
            root,
        );
        assert_eq!(output.status.code(), Some(2), "{name}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(name) && stderr.contains(expected),
            "{name}: {stderr}"
        );
    }
}

/// Serves the bundled course in this process on an ephemeral loopback port.
async fn serve_course() -> (String, tokio_util::sync::CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let course = Arc::new(learn::server::Course::new(course(), port));
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(learn::server::serve(listener, course, shutdown.clone()));
    (format!("http://127.0.0.1:{port}"), shutdown)
}

#[tokio::test]
async fn the_course_refuses_other_hosts_unknown_lessons_and_bad_choices() {
    let (base, shutdown) = serve_course().await;
    sharesim::core::tls::install_crypto_provider();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: &str, host: Option<&str>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(host) = host {
            request = request.header("Host", host);
        }
        async move {
            let response = request.send().await.expect("the course answers");
            let status = response.status().as_u16();
            let policy = response
                .headers()
                .get("content-security-policy")
                .map(|v| v.to_str().unwrap().to_string());
            (status, policy, response.text().await.unwrap())
        }
    };
    let (status, policy, index) = get("/", None).await;
    assert_eq!(status, 200);
    assert!(policy.unwrap().contains("script-src 'self'"));
    assert_eq!(index.matches("<li data-lesson=").count(), 8);
    for (path, host, code, says) in [
        ("/", Some("attacker.example"), 421, "only at the address"),
        (
            "/lessons/nope",
            None,
            404,
            "There is no lesson &quot;nope&quot;",
        ),
        (
            "/lessons/07-race?choices=x",
            None,
            400,
            "is not a list of positions",
        ),
        (
            "/lessons/07-race?choices=3",
            None,
            400,
            "choice 3: 2 message(s) are held",
        ),
        (
            "/lessons/01-one-way?try=1-1",
            None,
            400,
            "has no choice question 1",
        ),
        ("/lessons/01-one-way?colour=1", None, 400, "unknown field"),
    ] {
        let (status, _, body) = get(path, host).await;
        assert_eq!(status, code, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
    }
    shutdown.cancel();
}

#[tokio::test]
async fn a_learner_finishes_lessons_in_chromium_by_answering_and_by_choosing_the_order() {
    let Some(chromium) = chromium() else { return };
    let (base, shutdown) = serve_course().await;
    let mut browser = Browser::launch(&chromium).await;
    browser.emulate((1280, 1400), false).await;
    browser
        .open(
            &format!("{base}/lessons/01-one-way"),
            "document.documentElement.dataset.ready === 'true'",
        )
        .await;
    let step = "Number(document.getElementById('lesson').dataset.step)";
    // The player stops at the first question's step: next does not pass it.
    for _ in 0..3 {
        browser.press("ArrowRight", "ArrowRight", 39).await;
    }
    assert_eq!(browser.evaluate(step).await, serde_json::json!(2));
    assert_eq!(
        browser.evaluate("document.querySelector('#lesson .player-step').innerText.includes('revealed once you answer')").await,
        serde_json::json!(true)
    );
    // A wrong prediction says so and keeps the gate; the right one opens the next question.
    browser.click("#q0 button.option[data-value=pending]").await;
    browser
        .wait_until(
            "the wrong answer's feedback",
            "document.querySelector('#q0 .feedback').dataset.verdict === 'wrong'",
        )
        .await;
    browser
        .click("#q0 button.option[data-value=accepted]")
        .await;
    browser
        .wait_until(
            "the second question, with step 2 revealed",
            &format!(
                "{} && !document.getElementById('q1').hidden && {step} === 2",
                shows("#q0.answered")
            ),
        )
        .await;
    browser.screenshot("lesson.png").await;
    browser
        .click("#q1 button.option[data-value='no copy']")
        .await;
    browser
        .wait_until("the lesson finished", "document.body.dataset.finished === 'true' && !document.getElementById('complete').hidden")
        .await;
    browser.press("End", "End", 35).await;
    assert_eq!(
        browser.evaluate(step).await,
        serde_json::json!(5),
        "every step is open now"
    );

    // The race: the learner delivers acme's deactivation first, then what is left.
    browser
        .open(
            &format!("{base}/lessons/07-race"),
            "document.documentElement.dataset.ready === 'true'",
        )
        .await;
    assert_eq!(
        browser
            .evaluate("document.querySelectorAll('#q0 ol.held li').length")
            .await,
        serde_json::json!(2)
    );
    browser
        .click("#q0 ol.held li[data-from=acme] a.deliver")
        .await;
    browser
        .wait_until("one message left", "document.documentElement.dataset.ready === 'true' && document.querySelectorAll('#q0 ol.held li').length === 1")
        .await;
    browser.click("#q0 ol.held li a.deliver").await;
    browser
        .wait_until("the race played in the chosen order", "document.documentElement.dataset.ready === 'true' && document.body.dataset.finished === 'true'")
        .await;
    let link = browser
        .evaluate("document.getElementById('sequence-link').getAttribute('href')")
        .await;
    let link = link.as_str().unwrap().to_string();
    assert!(link.starts_with("/lessons/07-race?choices="), "{link}");
    let chosen = browser
        .evaluate("Array.from(document.querySelectorAll('#lesson figure.diagram g.sd-note')).map(n => n.textContent).filter(t => t.includes('the learner delivers')).map(t => t.slice(0, 60))")
        .await;
    let chosen = chosen.as_array().unwrap();
    assert_eq!(chosen.len(), 2, "{chosen:?}");
    assert!(
        chosen[0].as_str().unwrap().contains("acme's PUT"),
        "{chosen:?}"
    );
    let grid = browser
        .evaluate("document.querySelector('#lesson svg.gr').dataset.now")
        .await;
    assert_eq!(
        grid,
        serde_json::json!("0-0"),
        "the player starts at step 1: pending ↔ pending"
    );
    browser.press("End", "End", 35).await;
    let grid = browser
        .evaluate("document.querySelector('#lesson svg.gr').dataset.now")
        .await;
    assert_eq!(
        grid,
        serde_json::json!("3-3"),
        "inactive ↔ inactive at the end"
    );

    let problems = browser.take_problems();
    browser.close().await;
    shutdown.cancel();
    assert!(
        problems.is_empty(),
        "the pages log no errors: {problems:#?}"
    );
}
