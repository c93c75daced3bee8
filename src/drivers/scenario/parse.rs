//! Loading scenario files: TOML syntax and shape (via serde, see `format`), then the
//! checks serde cannot make (subdomains, account names, handles defined before use), all
//! before anything runs. Every refusal is a `ScenarioError` pointing at `file:line:col`
//! with a message saying what is wrong and what is allowed.
//!
//! Three parts: the error and its wording ([`error`]), reading and finding files
//! ([`loading`]), and the checks serde cannot make ([`checker`]).

mod checker;
mod error;
mod loading;

pub(crate) use checker::check_live_steps;
pub use error::ScenarioError;
pub(crate) use error::reword;
pub use loading::{check_built, discover, load, parse, read_source};

#[cfg(test)]
mod tests {
    use super::error::key_levels;
    use super::*;
    use crate::drivers::scenario::format::{
        Action, AgreementStatus, Answer, Direction, Expectation, Method, Position, User,
    };

    /// The README's first example scenario (invite and accept), kept as a valid file so
    /// other tests use it too.
    const EXAMPLE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/valid/design_example.toml"
    ));

    #[test]
    fn keys_nested_past_the_recursion_limit_point_at_their_line() {
        let deep = vec!["k"; 100].join(".");
        for body in [format!("{deep} = 1\n"), format!("[{deep}]\n")] {
            let source = format!("name = \"deep\"\n[accounts.acme]\n\n{body}");
            let error = parse(&source, "deep.toml").expect_err("refused");
            assert_eq!((error.line, error.col), (4, 1), "{error}");
            assert!(error.message.contains("levels deep here"), "{error}");
        }
        assert_eq!(key_levels("a.\"b.c\".d"), 3);
    }

    #[test]
    fn the_design_example_parses_into_the_expected_tree() {
        let scenario = parse(EXAMPLE, "example.toml").unwrap();
        assert_eq!(scenario.name, "Receiver accepts; only the sender may share");
        assert!(
            scenario
                .description
                .as_deref()
                .unwrap()
                .starts_with("acme invites globex.")
        );
        assert_eq!(scenario.seed, Some(7));
        assert!(!scenario.tls);
        assert_eq!(scenario.retries, 0);
        let names: Vec<&str> = scenario
            .accounts
            .keys()
            .map(|k| k.get_ref().as_str())
            .collect();
        assert_eq!(names, ["acme", "globex"]);
        assert_eq!(
            scenario.account("acme").unwrap().display_name.as_deref(),
            Some("Acme")
        );
        assert!(scenario.account("globex").unwrap().start);
        assert_eq!(scenario.steps.len(), 5);

        let Action::Invite(invite) = &scenario.steps[0].action else {
            panic!("step 1 is not an invite: {:?}", scenario.steps[0].action);
        };
        assert_eq!(invite.from.get_ref(), "acme");
        assert_eq!(invite.to.get_ref(), "globex");
        assert_eq!(invite.handle.get_ref(), "esc");
        assert_eq!(invite.user, User::Admin);
        assert_eq!(
            scenario.position(&invite.handle.span()),
            Position { line: 14, col: 47 }
        );
        assert_eq!(
            scenario.steps[0].note.as_deref(),
            Some("acme's admin creates an outbound agreement; globex is sent an invitation.")
        );
        assert_eq!(scenario.steps[0].position, Position { line: 13, col: 1 });
        assert_eq!(scenario.step_line(0), Some(13));

        let Action::Expect(Expectation::Agreement(check)) = &scenario.steps[1].action else {
            panic!("step 2 is not an agreement check");
        };
        assert_eq!(check.account.get_ref(), "globex");
        assert_eq!(check.direction, Some(Direction::Inbound));
        assert_eq!(check.status, Some(AgreementStatus::Pending));
        assert_eq!(check.remote_subdomain.as_deref(), Some("acme"));
        assert!(!check.absent);

        let Action::Respond(respond) = &scenario.steps[2].action else {
            panic!("step 3 is not a respond");
        };
        assert_eq!(respond.status, Answer::Accepted);

        let step = &scenario.steps[4];
        let Action::Request(request) = &step.action else {
            panic!("step 5 is not a request");
        };
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.user, User::Agent);
        assert_eq!(request.path, "/api/v2/sharing_agreements.json");
        assert_eq!(
            request.body,
            Some(serde_json::json!({ "sharing_agreement": { "remote_subdomain": "acme" } }))
        );
        assert_eq!(step.expect_status, Some(403));
        assert_eq!(step.expected_status(), Some(403));
        assert_eq!(step.position, Position { line: 26, col: 1 });
        assert_eq!(scenario.step_line(4), Some(26));
        assert_eq!(
            scenario.position(&request.account.span()),
            Position { line: 27, col: 23 }
        );
        assert_eq!(scenario.step_line(5), None);
    }

    #[test]
    fn display_is_file_line_col_message() {
        let error = parse("name = 1\n", "x.toml").unwrap_err();
        assert_eq!(error.to_string(), format!("x.toml:1:8: {}", error.message));
    }

    #[test]
    fn render_puts_a_caret_under_the_column() {
        let source = "name = \"x\"\n[accounts.Acme]\n";
        let error = parse(source, "caret.toml").unwrap_err();
        assert_eq!((error.line, error.col), (2, 11));
        let rendered = error.render(source, false);
        assert!(rendered.contains("caret.toml:2:11"), "{rendered}");
        assert!(rendered.contains(&error.message), "{rendered}");
        let caret_line = rendered
            .lines()
            .find(|line| line.ends_with("^^^^"))
            .unwrap();
        let source_line = rendered
            .lines()
            .find(|line| line.contains("[accounts.Acme]"))
            .unwrap();
        let caret = caret_line.chars().position(|c| c == '^').unwrap();
        let underlined: String = source_line.chars().skip(caret).take(4).collect();
        assert_eq!(underlined, "Acme", "{rendered}");
        assert!(error.render(source, true).contains("\u{1b}["));
    }

    #[test]
    fn render_survives_a_mismatched_source() {
        let error = parse("name = \"x\"\n[accounts.Acme]\n", "f.toml").unwrap_err();
        for source in ["", "é", "a\nb"] {
            let _ = error.render(source, false);
        }
    }

    #[test]
    fn position_handles_any_offset() {
        assert_eq!(Position::of_offset("", 5), Position { line: 1, col: 1 });
        assert_eq!(
            Position::of_offset("é\nab", 1),
            Position { line: 1, col: 1 }
        );
        assert_eq!(
            Position::of_offset("é\nab", 4),
            Position { line: 2, col: 2 }
        );
    }

    #[test]
    fn nothing_panics_on_truncated_or_mangled_input() {
        for end in 0..EXAMPLE.len() {
            if let Some(prefix) = EXAMPLE.get(..end) {
                let _ = parse(prefix, "prefix.toml");
            }
        }
        for (i, c) in EXAMPLE.char_indices() {
            let mut mangled = EXAMPLE.to_owned();
            mangled.replace_range(i..i + c.len_utf8(), "\u{0}");
            let _ = parse(&mangled, "mangled.toml");
        }
    }
}
