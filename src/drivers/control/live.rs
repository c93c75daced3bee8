//! The live view of `sharesim serve`: a page at `{control_url}/ui` that shows every
//! account's agreements and tickets and a sequence diagram of the journal, redrawn as
//! the journal's event stream reports new events, with buttons for the common faults
//! that run the same steps as `POST /steps`.
//!
//! Everything the page needs is in the binary (`include_str!`): no build step, no CDN.
//! The page itself is opened with `?token=` (the control token); its script keeps the
//! token in memory and sends it as a bearer header on every call, including the event
//! stream, which it reads with `fetch` rather than `EventSource` (that cannot send
//! headers). The script and style sheet carry no data and are served without a token.
//!
//! Beyond the newest events, the page can go back through the whole kept journal a
//! window at a time (`GET /ui/diagram.svg?from=&to=`), lists the messages held in
//! flight so a learner picks which one is delivered next (a `release` step naming that
//! message), and draws each agreement's status grid (`GET /ui/grids`).

mod pairs;

pub(crate) use pairs::PairTracker;

use super::{Control, ControlError, same_secret};
use crate::core::consistency::PairPath;
use crate::core::tls::CertMode;
use crate::core::trace::Event;
use crate::core::transport::scheduler::HeldMessage;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use strum::VariantArray;

/// The page, its script and its style sheet.
const PAGE: &str = include_str!("live/page.html");
const SCRIPT: &str = include_str!("live/live.js");
const STYLE: &str = include_str!("live/live.css");

/// How many of the newest journal events the diagram draws: enough to follow what a
/// client just did, few enough that the browser redraws it at once.
pub(crate) const DIAGRAM_EVENTS: usize = 200;

/// What the page may load and where it may connect: only this server. Inline styles are
/// allowed because the drawn diagram carries its own `<style>`; scripts are not.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// Draws a sequence diagram (SVG) titled `name` from journal events. The `report` layer,
/// above this one, owns the drawing; `cli` hands its renderer in, as it does the
/// OpenAPI document.
pub(crate) type DiagramRenderer = fn(name: &str, events: Vec<Event>) -> String;

/// Draws one agreement's status grid (SVG) from the path its pair took; handed in by
/// `cli` from the `report` layer, like the diagram.
pub(crate) type GridRenderer = fn(path: &PairPath) -> String;

/// How many grids the page shows: the most recently changed agreements.
pub(crate) const GRIDS_SHOWN: usize = 6;

/// The query of `GET /ui/diagram.svg`: which window of the journal to draw. Without
/// either bound, the newest [`DIAGRAM_EVENTS`]; with `from`, that many from there on;
/// with only `to`, that many ending there.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiagramWindow {
    /// The first event to draw.
    pub from: Option<u64>,
    /// The last event to draw.
    pub to: Option<u64>,
}

/// The query of `GET /ui`.
#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    /// The control token.
    token: Option<String>,
}

/// What the page shows, in one answer (`GET /ui/view`).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct LiveView {
    /// The newest journal event when the view was taken; the stream goes on from here.
    pub last_seq: u64,
    /// The oldest journal event still kept: how far back the diagram can go.
    pub first_seq: u64,
    /// The messages held in flight now, link by link, oldest first: a `release` step
    /// with `message` set to one's position delivers that one next.
    pub held: Vec<HeldMessage>,
    /// Whether the world speaks HTTPS (certificate modes mean something).
    pub tls: bool,
    /// The certificate modes a `certificate` step accepts, in their one spelling.
    pub certificate_modes: Vec<&'static str>,
    /// Every account, in the world's order.
    pub accounts: Vec<LiveAccount>,
}

/// One account on the page.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct LiveAccount {
    /// The subdomain.
    pub subdomain: String,
    /// The name partners see.
    pub display_name: String,
    /// Whether its listener runs.
    pub running: bool,
    /// The certificate mode it presents.
    #[schemars(with = "String")]
    pub certificate: CertMode,
    /// How many fault rules act on links into it.
    pub faults: usize,
    /// Its agreement copies, by id.
    pub agreements: Vec<LiveAgreement>,
    /// Its tickets, by id.
    pub tickets: Vec<LiveTicket>,
}

/// One agreement copy on the page.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct LiveAgreement {
    /// The account-local id.
    pub id: u64,
    /// The copy's display name.
    pub name: String,
    /// `inbound` or `outbound`.
    #[serde(rename = "type")]
    pub direction: String,
    /// Where the copy stands.
    pub status: String,
    /// The partner's subdomain, when known.
    pub remote_subdomain: Option<String>,
}

/// One ticket on the page.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct LiveTicket {
    /// The account-local id.
    pub id: u64,
    /// The subject line.
    pub subject: String,
    /// Where the ticket stands.
    pub status: String,
    /// The outbound agreement it is shared over.
    pub shared_over: Option<u64>,
    /// The inbound agreement it came over.
    pub received_over: Option<u64>,
}

impl Control {
    /// The accounts as the live page shows them, read without waiting for running steps.
    pub(crate) fn live_view(&self) -> LiveView {
        let last_seq = self.world.trace().last_seq();
        let first_seq = self.world.trace().first_seq();
        let views = self.world.account_views();
        self.pairs.observe(last_seq, &views);
        let accounts = views
            .into_iter()
            .map(|view| LiveAccount {
                subdomain: view.subdomain().to_string(),
                display_name: view.account.display_name().to_string(),
                running: view.running,
                certificate: view.certificate,
                faults: view.faults.len(),
                agreements: view
                    .agreements
                    .into_iter()
                    .map(|a| LiveAgreement {
                        id: a.id,
                        name: a.name.to_string(),
                        direction: a.direction.to_string(),
                        status: a.status.to_string(),
                        remote_subdomain: a.remote_subdomain.map(String::from),
                    })
                    .collect(),
                tickets: view
                    .tickets
                    .into_iter()
                    .map(|t| LiveTicket {
                        id: t.id,
                        subject: t.subject,
                        status: t.status,
                        shared_over: t.shared_over,
                        received_over: t.received_over,
                    })
                    .collect(),
            })
            .collect();
        LiveView {
            last_seq,
            first_seq,
            held: self.world.services().transport.scheduler().held(),
            tls: self.world.ca_cert_pem().is_some(),
            certificate_modes: CertMode::VARIANTS.iter().map(|m| m.into()).collect(),
            accounts,
        }
    }

    /// The sequence diagram of a window of at most [`DIAGRAM_EVENTS`] journal events
    /// (the newest by default), drawn by the same renderer as the reports; None when
    /// no renderer was given.
    pub(crate) fn live_diagram(&self, window: &DiagramWindow) -> Option<String> {
        let draw = self.diagram?;
        let trace = self.world.trace();
        let span = DIAGRAM_EVENTS as u64;
        let (after, until) = match (window.from, window.to) {
            (Some(from), to) => {
                let last = from.saturating_add(span - 1);
                (from.saturating_sub(1), to.map_or(last, |to| to.min(last)))
            }
            (None, Some(to)) => (to.saturating_sub(span), to),
            (None, None) => (trace.last_seq().saturating_sub(span), u64::MAX),
        };
        let events: Vec<Event> = trace
            .events_since(after)
            .into_iter()
            .take_while(|e| e.seq <= until)
            .collect();
        let name = match (events.first(), events.last()) {
            (Some(first), Some(last)) => {
                format!("live world · events {} to {}", first.seq, last.seq)
            }
            _ if after > 0 || until != u64::MAX => {
                "live world · no events kept in this window".to_string()
            }
            _ => "live world · no events yet".to_string(),
        };
        Some(draw(&name, events))
    }

    /// The status grids of the most recently changed agreements, as the page shows them.
    pub(crate) fn live_grids(&self) -> Option<LiveGrids> {
        let draw = self.grid?;
        let (paths, more) = self.pairs.recent(GRIDS_SHOWN);
        Some(LiveGrids {
            grids: paths
                .iter()
                .map(|path| LiveGrid {
                    label: path.label.clone(),
                    sender: path.sender.clone(),
                    receiver: path.receiver.clone(),
                    svg: draw(path),
                })
                .collect(),
            more,
        })
    }
}

/// The answer of `GET /ui/grids`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct LiveGrids {
    /// The most recently changed agreements' grids, newest first.
    pub grids: Vec<LiveGrid>,
    /// How many more agreements changed earlier (not drawn).
    pub more: usize,
}

/// One agreement's status grid.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct LiveGrid {
    /// What the page calls it: the sender and its local id.
    pub label: String,
    /// The sending account.
    pub sender: String,
    /// The receiving account.
    pub receiver: String,
    /// The drawn grid (SVG), the path numbered in the order the page saw it change.
    pub svg: String,
}

/// Headers every live-view answer carries: never cached, never sent on as a referrer,
/// never framed.
fn private(mut response: Response, content_type: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `GET /ui?token=…`: the page, for whoever knows the control token (as the query
/// parameter a person opens, or as a bearer header).
pub(crate) async fn page(
    State(control): State<Arc<Control>>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let from_query = query.ok().and_then(|Query(q)| q.token);
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_string());
    let allowed = [from_query, from_header]
        .into_iter()
        .flatten()
        .any(|token| same_secret(&token, &control.token));
    if !allowed {
        return ControlError::Unauthorized.into_response();
    }
    let mut response = private(PAGE.into_response(), "text/html; charset=utf-8");
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    response
}

/// `GET /ui/live.js`: the page's script (no data in it, so no token needed).
pub(crate) async fn script() -> Response {
    private(SCRIPT.into_response(), "text/javascript; charset=utf-8")
}

/// `GET /ui/live.css`: the page's style sheet (no data in it, so no token needed).
pub(crate) async fn style() -> Response {
    private(STYLE.into_response(), "text/css; charset=utf-8")
}

/// `GET /ui/view`: the accounts, their agreements and tickets (bearer token).
pub(crate) async fn view(State(control): State<Arc<Control>>) -> Response {
    private(
        axum::Json(control.live_view()).into_response(),
        "application/json",
    )
}

/// `GET /ui/diagram.svg`: a window of the journal drawn, the newest by default
/// (bearer token).
pub(crate) async fn diagram(
    State(control): State<Arc<Control>>,
    query: Result<Query<DiagramWindow>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let window = match query {
        Ok(Query(window)) => window,
        Err(error) => return ControlError::BadRequest(error.body_text()).into_response(),
    };
    match control.live_diagram(&window) {
        Some(svg) => private(svg.into_response(), "image/svg+xml"),
        None => ControlError::NotFound("/ui/diagram.svg".to_string()).into_response(),
    }
}

/// `GET /ui/grids`: the status grids of the most recently changed agreements (bearer
/// token).
pub(crate) async fn grids(State(control): State<Arc<Control>>) -> Response {
    match control.live_grids() {
        Some(grids) => private(axum::Json(grids).into_response(), "application/json"),
        None => ControlError::NotFound("/ui/grids".to_string()).into_response(),
    }
}
