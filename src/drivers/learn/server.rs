//! The course's web server: loopback only, for the person at this machine. It serves
//! the index, each lesson page (running the lesson's scenario in a fresh world for each
//! new sequence of choices, and keeping the page), and the pages' two scripts. It holds
//! no secret and changes nothing outside its own throwaway worlds; still, it answers
//! only requests addressed to its own host and port (a page elsewhere cannot reach it
//! through a rebound name), and every page forbids loads from anywhere else.

use super::format::Lesson;
use super::page;
use super::run::{Variant, run_lesson};
use crate::drivers::report::player;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Pages kept (each a run's page); the oldest are dropped together past this.
const CACHED_PAGES: usize = 128;
/// Most choices one address may carry.
const MAX_CHOICES: usize = 32;
/// Lesson runs at once; more wait.
const PARALLEL_RUNS: usize = 2;

/// What the pages may load: only this server's scripts; inline styles (the drawings
/// carry theirs) and `data:` images.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The served course.
pub struct Course {
    lessons: Vec<Lesson>,
    pages: Mutex<HashMap<(String, Variant), Arc<String>>>,
    runs: tokio::sync::Semaphore,
    /// `127.0.0.1:{port}` and `localhost:{port}`: the hosts requests must name.
    hosts: Vec<String>,
}

impl Course {
    /// A course of `lessons` served on `port`.
    pub fn new(lessons: Vec<Lesson>, port: u16) -> Course {
        Course {
            lessons,
            pages: Mutex::new(HashMap::new()),
            runs: tokio::sync::Semaphore::new(PARALLEL_RUNS),
            hosts: vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")],
        }
    }
}

/// A lesson page's query: the learner's choices of held messages (`1.2`), or a wrong
/// choice to run (`question-choice`, from 1).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonQuery {
    choices: Option<String>,
    #[serde(rename = "try")]
    attempt: Option<String>,
}

/// The course's routes.
pub fn router(course: Arc<Course>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/lessons/{slug}", get(lesson))
        .route(
            "/assets/player.js",
            get(|| async { script(player::SCRIPT) }),
        )
        .route("/assets/lesson.js", get(|| async { script(page::SCRIPT) }))
        .fallback(|| async {
            refuse(
                StatusCode::NOT_FOUND,
                "There is no such page; the course starts at /.",
            )
        })
        .layer(middleware::from_fn_with_state(course.clone(), guard))
        .with_state(course)
}

/// Serves `course` on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    course: Arc<Course>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(course))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// Refuses requests for another host, and gives every answer the same safe headers.
async fn guard(State(course): State<Arc<Course>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if !course.hosts.iter().any(|allowed| allowed == host) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "This course answers only at the address `sharesim learn` printed.",
        );
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn html(body: String) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn script(source: &'static str) -> Response {
    let mut response = source.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    response
}

/// A short page saying what is wrong, with the status that says it too.
fn refuse(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head><body><h1>{}</h1><p>{}</p><p><a href=\"/\">The course</a></p></body></html>\n",
        status.as_u16(),
        status,
        crate::drivers::report::svg::escape(message)
    );
    let mut response = html(body);
    *response.status_mut() = status;
    response
}

async fn index(State(course): State<Arc<Course>>) -> Response {
    html(page::index(&course.lessons))
}

/// Reads a lesson page's query into the run it asks for.
fn variant(query: &LessonQuery) -> Result<Variant, String> {
    match (&query.choices, &query.attempt) {
        (Some(_), Some(_)) => Err("give `choices` or `try`, not both".into()),
        (None, Some(attempt)) => {
            let (question, choice) = attempt
                .split_once('-')
                .and_then(|(q, c)| Some((q.parse::<usize>().ok()?, c.parse::<usize>().ok()?)))
                .filter(|(q, c)| *q >= 1 && *c >= 1)
                .ok_or_else(|| {
                    format!("`try={attempt}` is not QUESTION-CHOICE, e.g. try=1-2 (both from 1)")
                })?;
            Ok(Variant::Try {
                question: question - 1,
                choice: choice - 1,
            })
        }
        (Some(choices), None) => {
            let picks: Vec<usize> = choices
                .split('.')
                .filter(|part| !part.is_empty())
                .map(|part| part.parse::<usize>().ok().filter(|n| *n >= 1))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    format!("`choices={choices}` is not a list of positions like 2.1 (each from 1)")
                })?;
            if picks.len() > MAX_CHOICES {
                return Err(format!(
                    "at most {MAX_CHOICES} choices, found {}",
                    picks.len()
                ));
            }
            Ok(Variant::Main { choices: picks })
        }
        (None, None) => Ok(Variant::Main {
            choices: Vec::new(),
        }),
    }
}

async fn lesson(
    State(course): State<Arc<Course>>,
    Path(slug): Path<String>,
    query: Result<Query<LessonQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(lesson) = course.lessons.iter().find(|l| l.slug == slug) else {
        return refuse(
            StatusCode::NOT_FOUND,
            &format!("There is no lesson {slug:?}; the course lists them all at /."),
        );
    };
    let query = match query {
        Ok(Query(query)) => query,
        Err(error) => return refuse(StatusCode::BAD_REQUEST, &error.body_text()),
    };
    let variant = match variant(&query) {
        Ok(variant) => variant,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, &message),
    };
    let key = (slug.clone(), variant.clone());
    if let Some(page) = crate::core::trace::lock(&course.pages).get(&key) {
        return html(page.as_ref().clone());
    }
    let Ok(_permit) = course.runs.acquire().await else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "The course is shutting down.",
        );
    };
    let run = match run_lesson(lesson, &variant).await {
        Ok(run) => run,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, &message),
    };
    // A choice past the end of what was held: the address is wrong, not the lesson.
    if let (Some(failure), Variant::Main { choices }) = (&run.outcome.failure, &variant)
        && !choices.is_empty()
        && failure.message.starts_with("choice ")
    {
        return refuse(StatusCode::BAD_REQUEST, &failure.message);
    }
    let page = Arc::new(page::lesson(lesson, &course.lessons, &run));
    let mut pages = crate::core::trace::lock(&course.pages);
    if pages.len() >= CACHED_PAGES {
        pages.clear();
    }
    pages.insert(key, page.clone());
    drop(pages);
    html(page.as_ref().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(choices: Option<&str>, attempt: Option<&str>) -> LessonQuery {
        LessonQuery {
            choices: choices.map(str::to_string),
            attempt: attempt.map(str::to_string),
        }
    }

    #[test]
    fn queries_name_a_run_or_say_what_is_wrong() {
        assert_eq!(
            variant(&query(None, None)),
            Ok(Variant::Main { choices: vec![] })
        );
        assert_eq!(
            variant(&query(Some("2.1"), None)),
            Ok(Variant::Main {
                choices: vec![2, 1]
            })
        );
        assert_eq!(
            variant(&query(None, Some("1-3"))),
            Ok(Variant::Try {
                question: 0,
                choice: 2
            })
        );
        for (choices, attempt) in [
            (Some("0"), None),
            (Some("a.b"), None),
            (None, Some("1")),
            (None, Some("0-1")),
            (Some("1"), Some("1-1")),
        ] {
            assert!(
                variant(&query(choices, attempt)).is_err(),
                "{choices:?} {attempt:?}"
            );
        }
        let many = vec!["1"; MAX_CHOICES + 1].join(".");
        assert!(variant(&query(Some(&many), None)).is_err());
    }
}
