//! The agreement routes of the REST surface (list, show, create, update, delete, each
//! with and without `.json`) and the agreement's REST view, the nine documented fields.

use super::{
    ApiError, ParsedBody, json_bytes_response, parse_envelope_of, parse_id, require_admin,
};
use crate::core::account::agreements::Invitation;
use crate::core::account::{Account, User};
use crate::core::model::{Agreement, AgreementStatus, Terms, is_valid_subdomain};
use crate::surfaces::partner::outbound;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The agreement routes, merged into [`super::router`] behind its auth and trace layers.
pub(super) fn routes() -> Router<Arc<Account>> {
    Router::new()
        .route(
            "/api/v2/sharing_agreements",
            get(list_agreements).post(create_agreement),
        )
        .route(
            "/api/v2/sharing_agreements.json",
            get(list_agreements).post(create_agreement),
        )
        .route(
            "/api/v2/sharing_agreements/{id}",
            get(show_agreement)
                .put(update_agreement)
                .delete(delete_agreement),
        )
}

/// An agreement copy as the REST API shows it: the nine documented fields, in this
/// order. Serialised straight from the copy, so a listing builds no intermediate JSON.
#[derive(Debug, Serialize)]
pub(crate) struct AgreementView<'a> {
    created_at: &'a str,
    id: u64,
    name: &'a str,
    /// Our model: sharesim only simulates Zendesk-to-Zendesk agreements, never Jira.
    partner_name: Option<&'a str>,
    remote_subdomain: Option<&'a str>,
    status: &'static str,
    #[serde(rename = "type")]
    direction: &'static str,
    updated_at: &'a str,
    url: RecordUrl<'a>,
}

impl<'a> AgreementView<'a> {
    /// The view of `agreement` on the account whose API lives at `api_url`
    /// ([`Account::api_url`]).
    pub(crate) fn new(agreement: &'a Agreement, api_url: &'a str) -> AgreementView<'a> {
        AgreementView {
            created_at: &agreement.created_at,
            id: agreement.id,
            name: &agreement.name,
            partner_name: None,
            remote_subdomain: agreement.remote_subdomain.as_deref(),
            status: agreement.status.as_str(),
            direction: agreement.direction.as_str(),
            updated_at: &agreement.updated_at,
            url: RecordUrl {
                api_url,
                id: agreement.id,
            },
        }
    }
}

impl AgreementView<'_> {
    /// The view as JSON, the bytes its `Serialize` gives, written without serde's
    /// machinery (every write's answer is one).
    fn write(&self, out: &mut Vec<u8>) {
        use crate::surfaces::partner::wire::{push_json_key, push_json_str};
        let optional = |out: &mut Vec<u8>, text: Option<&str>| match text {
            Some(text) => push_json_str(out, text),
            None => out.extend_from_slice(b"null"),
        };
        let mut digits = itoa::Buffer::new();
        out.push(b'{');
        push_json_key(out, "created_at");
        push_json_str(out, self.created_at);
        out.push(b',');
        push_json_key(out, "id");
        out.extend_from_slice(digits.format(self.id).as_bytes());
        out.push(b',');
        push_json_key(out, "name");
        push_json_str(out, self.name);
        out.push(b',');
        push_json_key(out, "partner_name");
        optional(out, self.partner_name);
        out.push(b',');
        push_json_key(out, "remote_subdomain");
        optional(out, self.remote_subdomain);
        for (key, text) in [
            ("status", self.status),
            ("type", self.direction),
            ("updated_at", self.updated_at),
        ] {
            out.push(b',');
            push_json_key(out, key);
            push_json_str(out, text);
        }
        out.push(b',');
        push_json_key(out, "url");
        push_json_str(out, &self.url.text());
        out.push(b'}');
    }
}

/// `{api_url}/sharing_agreements/{id}.json`, written while serialising.
#[derive(Debug)]
struct RecordUrl<'a> {
    api_url: &'a str,
    id: u64,
}

impl Serialize for RecordUrl<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text())
    }
}

impl RecordUrl<'_> {
    /// The URL, without the formatting machinery.
    fn text(&self) -> String {
        const PATH: &str = "/sharing_agreements/";
        const SUFFIX: &str = ".json";
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(self.id);
        let mut url =
            String::with_capacity(self.api_url.len() + PATH.len() + digits.len() + SUFFIX.len());
        for piece in [self.api_url, PATH, digits, SUFFIX] {
            url.push_str(piece);
        }
        url
    }
}

/// The REST API's JSON object for an agreement copy on `account`.
pub(crate) fn agreement_json(account: &Account, agreement: &Agreement) -> Value {
    serde_json::to_value(AgreementView::new(agreement, &account.api_url())).unwrap_or_default()
}

/// An answer of one copy, `{"sharing_agreement": {…}}`, serialised straight from the
/// copy with its trace summary: the same bytes and summary as through a JSON tree
/// ([`agreement_json`], `summarize_value`), without building one per call.
fn agreement_response(account: &Account, status: StatusCode, agreement: &Agreement) -> Response {
    let api_url = account.shared_api_url();
    // One buffer of an answer's size: growing from serde_json's default copies it twice.
    let mut body = Vec::with_capacity(320 + api_url.len());
    body.extend_from_slice(b"{\"sharing_agreement\":");
    AgreementView::new(agreement, &api_url).write(&mut body);
    body.push(b'}');
    json_bytes_response(status, body.into(), record_summary(agreement))
}

/// `id={id} type={type} status={status}`, an answer's trace summary, without the
/// formatting machinery.
fn record_summary(agreement: &Agreement) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(agreement.id);
    let (direction, status) = (agreement.direction.as_str(), agreement.status.as_str());
    let mut summary = String::with_capacity(20 + digits.len() + direction.len() + status.len());
    for piece in ["id=", digits, " type=", direction, " status=", status] {
        summary.push_str(piece);
    }
    summary
}

async fn list_agreements(State(account): State<Arc<Account>>) -> Result<Response, ApiError> {
    let (body, _, summary) = listing(&account);
    Ok(json_bytes_response(StatusCode::OK, body, summary))
}

/// Whether a call is the agreement list (`GET`, either spelling of the path), which
/// [`super::record_call`] answers itself: the route API clients poll most, spared the
/// router's matching, its request extensions and a boxed handler.
pub(super) fn is_listing(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::GET
        && matches!(
            path,
            "/api/v2/sharing_agreements" | "/api/v2/sharing_agreements.json"
        )
}

/// The agreement list's answer, with the headers the routed handler's answer gets
/// (the router adds `Content-Length` after the content type) and the rate-limit ones,
/// cached with the body, and its trace summary.
pub(super) fn listing_answer(account: &Account) -> (Response, super::TraceSummary) {
    let (body, headers, summary) = listing(account);
    let mut response = Response::new(axum::body::Body::from(body.clone()));
    *response.headers_mut() = headers;
    (response, super::TraceSummary(summary, Some(body)))
}

/// The agreement list's body, its answer's headers and its trace summary.
fn listing(account: &Account) -> (Bytes, axum::http::HeaderMap, String) {
    #[derive(serde::Serialize)]
    struct Listing<'a> {
        sharing_agreements: Vec<AgreementView<'a>>,
    }
    let api_url = account.shared_api_url();
    // Serialised under the state lock straight from the copies (no clones, no `Value`),
    // and only when a copy changed since the last listing.
    let (body, headers, count) = account.with_state(|state| {
        let count = state.agreements().len();
        let build = |state: &crate::core::account::AccountState| {
            let listing = Listing {
                sharing_agreements: state
                    .agreements()
                    .values()
                    .map(|agreement| AgreementView::new(agreement, &api_url))
                    .collect(),
            };
            serde_json::to_vec(&listing).unwrap_or_default().into()
        };
        let (body, headers) = state.listing(&api_url, build, super::listing_headers);
        (body, headers, count)
    });
    (body, headers, count_of_agreements(count))
}

/// `{count} agreements`, the list's trace summary, without the formatting machinery
/// (every poll of the list records it).
fn count_of_agreements(count: usize) -> String {
    const SUFFIX: &str = " agreements";
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(count);
    let mut summary = String::with_capacity(digits.len() + SUFFIX.len());
    summary.push_str(digits);
    summary.push_str(SUFFIX);
    summary
}

async fn show_agreement(
    State(account): State<Arc<Account>>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&raw_id)?;
    let agreement = account.agreement_by_id(id).ok_or(ApiError::NotFound)?;
    Ok(agreement_response(&account, StatusCode::OK, &agreement))
}

async fn create_agreement(
    State(account): State<Arc<Account>>,
    axum::Extension(user): axum::Extension<User>,
    parsed: Option<ParsedBody>,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(&account, &user, parsed.as_ref(), &body).await
}

async fn create(
    account: &Account,
    user: &User,
    parsed: Option<&ParsedBody>,
    body: &Bytes,
) -> Result<Response, ApiError> {
    require_admin(user)?;
    let fields = parse_envelope_of(body, parsed, "sharing_agreement")?;
    let invitation = parse_invitation(account, &fields)?;
    let agreement = outbound::invite(account, invitation).await;
    Ok(agreement_response(account, StatusCode::CREATED, &agreement))
}

/// An agreement write [`super::record_call`] answers itself, as the router would
/// route it: the handshake's writes, spared the router's matching, its request
/// extensions and the extractors' copies. A path the router would decode (`%`) is left
/// to it.
pub(super) enum Write<'a> {
    /// `POST /api/v2/sharing_agreements[.json]`.
    Create,
    /// `PUT /api/v2/sharing_agreements/{id}`, with the raw `{id}`.
    Update(&'a str),
}

impl<'a> Write<'a> {
    /// The write `method` on `path` is, when it is one of these.
    pub(super) fn of(method: &axum::http::Method, path: &'a str) -> Option<Write<'a>> {
        use axum::http::Method;
        if *method == Method::POST
            && matches!(
                path,
                "/api/v2/sharing_agreements" | "/api/v2/sharing_agreements.json"
            )
        {
            return Some(Write::Create);
        }
        let id = path.strip_prefix("/api/v2/sharing_agreements/")?;
        (*method == Method::PUT && !id.is_empty() && !id.contains(['/', '%']))
            .then_some(Write::Update(id))
    }

    /// The answer the routed handler would give.
    pub(super) async fn answer(
        self,
        account: &Account,
        user: &User,
        parsed: Option<&ParsedBody>,
        body: &Bytes,
    ) -> Response {
        match self {
            Write::Create => create(account, user, parsed, body).await,
            Write::Update(raw_id) => update(account, user, raw_id, parsed, body).await,
        }
        .into_response()
    }
}

/// Validates a create body: `remote_subdomain` (trimmed, lower-cased), optional `name`,
/// and the sharesim extension `terms`.
fn parse_invitation(
    account: &Account,
    fields: &Map<String, Value>,
) -> Result<Invitation, ApiError> {
    let remote = match fields.get("remote_subdomain") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "remote_subdomain",
                "BlankValue",
                "Remote subdomain: cannot be blank",
            ));
        }
        // ASCII only: Unicode lower-casing maps the Kelvin sign (U+212A) to `k`.
        Some(Value::String(text)) => text.trim().to_ascii_lowercase(),
        Some(_) => {
            return Err(ApiError::invalid(
                "remote_subdomain",
                "InvalidValue",
                "Remote subdomain: must be a string",
            ));
        }
    };
    if remote.is_empty() {
        return Err(ApiError::invalid(
            "remote_subdomain",
            "BlankValue",
            "Remote subdomain: cannot be blank",
        ));
    }
    if !is_valid_subdomain(&remote) {
        return Err(ApiError::invalid(
            "remote_subdomain",
            "InvalidValue",
            format!(
                "Remote subdomain: {remote:?} is not a valid subdomain (use 1 to 63 of a-z, 0-9 and -)"
            ),
        ));
    }
    if remote == account.subdomain() {
        return Err(ApiError::invalid(
            "remote_subdomain",
            "InvalidValue",
            format!(
                "Remote subdomain: an account cannot share with itself ({remote} is this account)"
            ),
        ));
    }
    let name = match fields.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if !name.trim().is_empty() => Some(name.trim().to_string()),
        Some(Value::String(_)) => None,
        Some(_) => {
            return Err(ApiError::invalid(
                "name",
                "InvalidValue",
                "Name: must be a string",
            ));
        }
    };
    let terms = parse_terms(fields.get("terms"))?;
    Ok(Invitation {
        remote_subdomain: remote,
        name,
        terms,
    })
}

/// The sharesim extension `terms: {sync_tags, sync_custom_fields, allows_public_comments, sync_status}`.
fn parse_terms(value: Option<&Value>) -> Result<Terms, ApiError> {
    let mut terms = Terms::default();
    let Some(value) = value else {
        return Ok(terms);
    };
    let Value::Object(map) = value else {
        return Err(ApiError::invalid(
            "terms",
            "InvalidValue",
            "Terms: must be an object of booleans",
        ));
    };
    for (key, value) in map {
        let flag = value.as_bool().ok_or_else(|| {
            ApiError::invalid(
                "terms",
                "InvalidValue",
                format!("Terms: {key} must be true or false"),
            )
        })?;
        match key.as_str() {
            "sync_tags" => terms.sync_tags = flag,
            "sync_custom_fields" => terms.sync_custom_fields = flag,
            "allows_public_comments" => terms.allows_public_comments = flag,
            "sync_status" => terms.sync_status = flag,
            other => {
                return Err(ApiError::invalid(
                    "terms",
                    "InvalidValue",
                    format!(
                        "Terms: unknown term {other:?}; expected sync_tags, sync_custom_fields, allows_public_comments or sync_status"
                    ),
                ));
            }
        }
    }
    Ok(terms)
}

async fn update_agreement(
    State(account): State<Arc<Account>>,
    axum::Extension(user): axum::Extension<User>,
    Path(raw_id): Path<String>,
    parsed: Option<ParsedBody>,
    body: Bytes,
) -> Result<Response, ApiError> {
    update(&account, &user, &raw_id, parsed.as_ref(), &body).await
}

async fn update(
    account: &Account,
    user: &User,
    raw_id: &str,
    parsed: Option<&ParsedBody>,
    body: &Bytes,
) -> Result<Response, ApiError> {
    require_admin(user)?;
    let id = parse_id(raw_id)?;
    // Check the record exists before judging the body, as Zendesk does.
    if !account.has_agreement(id) {
        return Err(ApiError::NotFound);
    }
    let fields = parse_envelope_of(body, parsed, "sharing_agreement")?;
    // Only `status` may change: other fields are ignored.
    let requested = match fields.get("status") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "status",
                "BlankValue",
                "Status: cannot be blank (only status may be updated)",
            ));
        }
        Some(Value::String(text)) => text.parse::<AgreementStatus>().map_err(|_| {
            ApiError::invalid(
                "status",
                "InvalidValue",
                format!(
                    "Status: {text:?} is not a status; expected one of {}",
                    AgreementStatus::allowed_list()
                ),
            )
        })?,
        Some(_) => {
            return Err(ApiError::invalid(
                "status",
                "InvalidValue",
                "Status: must be a string",
            ));
        }
    };
    let agreement = outbound::change_status(account, id, requested).await?;
    Ok(agreement_response(account, StatusCode::OK, &agreement))
}

async fn delete_agreement(
    State(account): State<Arc<Account>>,
    axum::Extension(user): axum::Extension<User>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(&user)?;
    let id = parse_id(&raw_id)?;
    outbound::delete_agreement(&account, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_record_summary_and_url_read_as_formatted() {
        use crate::core::model::ticket::tests_support::agreement;
        use crate::core::model::{AgreementStatus, Direction};
        use crate::core::text::Text;
        use strum::VariantArray;
        let mut agreement = agreement(0, Direction::Inbound, AgreementStatus::Accepted);
        for id in [0, 7, 12_345, u64::MAX] {
            agreement.id = id;
            assert_eq!(
                super::record_summary(&agreement),
                format!(
                    "id={} type={} status={}",
                    id,
                    agreement.direction.as_str(),
                    agreement.status.as_str()
                )
            );
            for (index, text) in ["", "plain", "a \"q\" \\ b", "c\u{1}\n", "ünï ☃"]
                .into_iter()
                .enumerate()
            {
                agreement.name = text.to_string().into();
                agreement.created_at = format!("{text}{id}").into();
                agreement.remote_subdomain = (index % 2 == 0).then(|| Text::from(text));
                agreement.direction = if index % 2 == 0 {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                };
                agreement.status =
                    AgreementStatus::VARIANTS[index % AgreementStatus::VARIANTS.len()];
                let view = super::AgreementView::new(&agreement, text);
                let mut written = Vec::new();
                view.write(&mut written);
                assert_eq!(
                    String::from_utf8(written).unwrap(),
                    serde_json::to_string(&view).unwrap()
                );
            }
            let url = super::RecordUrl {
                api_url: "https://acme.sharesim.test/api/v2",
                id,
            };
            assert_eq!(
                serde_json::to_string(&url).unwrap(),
                format!("\"https://acme.sharesim.test/api/v2/sharing_agreements/{id}.json\"")
            );
        }
    }

    #[test]
    fn the_count_summary_reads_as_formatted() {
        for count in [0, 1, 9, 10, 99, 100, 12_345, usize::MAX] {
            assert_eq!(
                super::count_of_agreements(count),
                format!("{count} agreements")
            );
        }
    }
}
