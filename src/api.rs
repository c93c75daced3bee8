//! The REST surface under `/api/v2`, shaped so real Zendesk API clients work
//! unmodified: paths with and without `.json`, HTTP Basic token auth, the documented
//! envelopes, and error bodies matched byte for byte (DESIGN.md §1A).
//!
//! Handlers are thin: authenticate, parse, call the account, map the result. Every
//! error goes through [`ApiError`], the one place that knows Zendesk's error shapes.
//! Agreement routes live here; ticket routes in `api/tickets.rs`.

mod tickets;

use crate::account::agreements::{AgreementError, Invitation};
use crate::account::{Account, AgreementView, Role, User};
use crate::model::{AgreementStatus, Terms, is_valid_subdomain};
use crate::rate_limit::{self, Verdict};
use crate::trace::{EventDraft, EventKind, Surface};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Every way a REST call can fail, each with Zendesk's exact status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 401 `{"error":"Couldn't authenticate you"}`.
    Unauthorized,
    /// 403: an agent tried to write.
    Forbidden,
    /// 404 RecordNotFound: no such record.
    NotFound,
    /// 404 InvalidEndpoint: no such path.
    InvalidEndpoint,
    /// 400: the body is not JSON (our model: Zendesk's shape for this is undocumented).
    BadJson(String),
    /// 422 RecordInvalid with `details` naming the field.
    RecordInvalid {
        /// The field the details are about.
        field: String,
        /// The machine-readable error code.
        error: String,
        /// What is wrong and what is allowed.
        description: String,
    },
    /// 429, plain text, with `Retry-After`: the account's per-minute allowance is spent.
    RateLimited {
        /// Seconds until the allowance resets.
        retry_after_secs: u64,
    },
}

impl ApiError {
    fn invalid(field: &str, error: &str, description: impl Into<String>) -> ApiError {
        ApiError::RecordInvalid {
            field: field.to_string(),
            error: error.to_string(),
            description: description.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::InvalidEndpoint => StatusCode::NOT_FOUND,
            ApiError::BadJson(_) => StatusCode::BAD_REQUEST,
            ApiError::RecordInvalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The JSON body Zendesk answers with.
    pub fn body(&self) -> Value {
        match self {
            ApiError::Unauthorized => json!({"error": "Couldn't authenticate you"}),
            ApiError::Forbidden => json!({
                "error": "Forbidden",
                "description": "You do not have access to this page. Please contact the account owner of this help desk for further help."
            }),
            ApiError::NotFound => json!({"error": "RecordNotFound", "description": "Not found"}),
            ApiError::InvalidEndpoint => {
                json!({"error": "InvalidEndpoint", "description": "Not found"})
            }
            ApiError::BadJson(detail) => json!({
                "error": "BadRequest",
                "description": format!("The request body is not valid JSON: {detail}")
            }),
            ApiError::RecordInvalid {
                field,
                error,
                description,
            } => {
                let mut details = Map::new();
                details.insert(
                    field.clone(),
                    json!([{"description": description, "error": error}]),
                );
                json!({
                    "error": "RecordInvalid",
                    "description": "Record validation errors",
                    "details": details
                })
            }
            // Sent as plain text (see `into_response`); this is its meaning as JSON.
            ApiError::RateLimited { .. } => json!({
                "error": "TooManyRequests",
                "description": rate_limit::EXCEEDED_BODY
            }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::RateLimited { retry_after_secs } = self {
            // Zendesk answers this one in plain text, not JSON.
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                rate_limit::EXCEEDED_BODY,
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response.extensions_mut().insert(TraceSummary(format!(
                "rate limit exceeded: retry after {retry_after_secs} s"
            )));
            return response;
        }
        json_response(self.status(), &self.body())
    }
}

impl From<AgreementError> for ApiError {
    fn from(error: AgreementError) -> Self {
        match error {
            AgreementError::NotFound => ApiError::NotFound,
            AgreementError::Refused(_) => {
                ApiError::invalid("status", "InvalidValue", error.to_string())
            }
            AgreementError::Undeliverable { .. } => {
                ApiError::invalid("status", "PartnerUnreachable", error.to_string())
            }
        }
    }
}

/// A JSON response with Zendesk's content type.
fn json_response(status: StatusCode, body: &Value) -> Response {
    json_bytes_response(status, body.to_string().into(), summarize_value(body))
}

/// A response whose JSON body is already serialised, with its trace summary attached so
/// [`record_call`] need not read the body back.
fn json_bytes_response(status: StatusCode, body: Bytes, summary: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response.extensions_mut().insert(TraceSummary(summary));
    response
}

/// The trace's summary of a REST answer, attached by the handler that built the body.
#[derive(Clone, Debug)]
struct TraceSummary(String);

/// The `/api/v2` routes of one account.
pub fn router(account: Arc<Account>) -> Router {
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
        .merge(tickets::routes())
        // Unknown paths under the API still pass authentication, the trace and the
        // rate-limit headers, like every other API answer.
        .route("/api/v2/{*rest}", axum::routing::any(invalid_endpoint))
        .layer(middleware::from_fn_with_state(account.clone(), record_call))
        .with_state(account)
}

/// Answers unknown paths the way Zendesk does.
pub async fn invalid_endpoint() -> ApiError {
    ApiError::InvalidEndpoint
}

/// Authenticates the caller (once per call; a call without valid credentials is answered
/// 401 here, before any handler), records the call and its answer in the trace, and adds
/// the rate-limit headers.
async fn record_call(
    State(account): State<Arc<Account>>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let user = account.authenticate(
        request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok()),
    );
    let caller = user
        .as_ref()
        .map(|user| user.email.clone())
        .unwrap_or_else(|| "anonymous".to_string());
    let authenticated = user.is_some();
    if let Some(user) = user {
        request.extensions_mut().insert(user);
    }
    // Writes carry a body worth showing in the trace (`status=accepted`…); reads do not,
    // and are passed through untouched. A caller who is not authenticated is answered
    // 401 without its body ever being parsed or summarised.
    let mut unreadable = None;
    let mut request_detail = String::new();
    if authenticated && request.method() != axum::http::Method::GET {
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, crate::limits::MAX_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(error) => {
                unreadable = Some(ApiError::BadJson(format!(
                    "the body could not be read: {error}"
                )));
                Bytes::new()
            }
        };
        request_detail = summarize_request(&bytes);
        request = Request::from_parts(parts, Body::from(bytes));
    }
    let trace = account.trace();
    trace.record(
        EventKind::Request,
        EventDraft {
            surface: Some(Surface::Rest),
            from: caller.clone(),
            to: account.subdomain().to_string(),
            method: Some(method.clone()),
            path: Some(path.clone()),
            detail: request_detail,
            ..EventDraft::default()
        },
    );
    // Every authenticated call counts against the allowance, as on Zendesk, even a
    // refused one. Our model: calls without valid credentials do not, so a stranger
    // cannot spend an account's allowance and lock its users out; they only see it.
    let now = std::time::Instant::now();
    let verdict = if authenticated {
        account.rate_limiter().check(now)
    } else {
        account.rate_limiter().peek(now)
    };
    let response = match (verdict, authenticated, unreadable) {
        (
            Verdict::Exceeded {
                retry_after_secs, ..
            },
            _,
            _,
        ) => ApiError::RateLimited { retry_after_secs }.into_response(),
        (_, false, _) => ApiError::Unauthorized.into_response(),
        (_, true, Some(error)) => error.into_response(),
        (_, true, None) => next.run(request).await,
    };
    let (mut parts, mut body) = response.into_parts();
    let detail = match parts.extensions.remove::<TraceSummary>() {
        Some(TraceSummary(summary)) => summary,
        // Answers built elsewhere (axum's own rejections, empty 204s) are read back to
        // summarise them; they are few and small.
        None => {
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let summary = summarize_response(&bytes);
            body = Body::from(bytes);
            summary
        }
    };
    trace.record(
        EventKind::Response,
        EventDraft {
            surface: Some(Surface::Rest),
            from: account.subdomain().to_string(),
            to: caller,
            method: Some(method),
            path: Some(path),
            status: Some(parts.status.as_u16()),
            detail,
            ..EventDraft::default()
        },
    );
    let (limit, remaining) = match verdict {
        Verdict::Allowed { limit, remaining } => (limit, remaining),
        Verdict::Exceeded { limit, .. } => (limit, 0),
    };
    parts
        .headers
        .insert("X-Rate-Limit", HeaderValue::from(limit));
    parts
        .headers
        .insert("X-Rate-Limit-Remaining", HeaderValue::from(remaining));
    Response::from_parts(parts, body)
}

/// Longest value a request summary quotes.
const MAX_SUMMARY_VALUE: usize = 40;

/// Key fields of a REST request body for the trace, e.g. `status=accepted` or
/// `remote_subdomain=Globex` or `comment.body="Which tray?" comment.public=false`: the
/// scalar fields under the body's envelope (`sharing_agreement`, `ticket`…).
pub fn summarize_request(bytes: &[u8]) -> String {
    let Ok(Value::Object(envelope)) = serde_json::from_slice::<Value>(bytes) else {
        return String::new();
    };
    let mut parts = Vec::new();
    for value in envelope.values() {
        if let Value::Object(fields) = value {
            summarize_fields("", fields, &mut parts);
        }
    }
    // Bounded however many fields the body has (see `limits`).
    if parts.len() > crate::limits::MAX_SUMMARY_FIELDS {
        let more = parts.len() - crate::limits::MAX_SUMMARY_FIELDS;
        parts.truncate(crate::limits::MAX_SUMMARY_FIELDS);
        parts.push(format!("(+{more} more)"));
    }
    parts.join(" ")
}

fn summarize_fields(prefix: &str, fields: &Map<String, Value>, parts: &mut Vec<String>) {
    for (key, value) in fields {
        if parts.len() > crate::limits::MAX_SUMMARY_FIELDS {
            // Counted, not described: the summary keeps only the first few.
            parts.push(String::new());
            continue;
        }
        let key = crate::limits::clip(key, MAX_SUMMARY_VALUE);
        let text = match value {
            Value::Object(inner) => {
                summarize_fields(&format!("{prefix}{key}."), inner, parts);
                continue;
            }
            Value::String(text) => {
                let short: String = text.chars().take(MAX_SUMMARY_VALUE).collect();
                let short = if short.len() < text.len() {
                    format!("{short}…")
                } else {
                    short
                };
                if short.contains(' ') {
                    format!("{short:?}")
                } else {
                    short
                }
            }
            other => crate::limits::clip(&other.to_string(), MAX_SUMMARY_VALUE).into_owned(),
        };
        parts.push(format!("{prefix}{key}={text}"));
    }
}

/// Key fields of a REST answer for the trace: the record's id/type/status, or the error.
pub fn summarize_response(bytes: &[u8]) -> String {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => summarize_value(&value),
        Err(_) => String::new(),
    }
}

/// [`summarize_response`] of an answer not yet serialised.
pub fn summarize_value(value: &Value) -> String {
    if let Some(record) = value.get("sharing_agreement") {
        return format!(
            "id={} type={} status={}",
            record["id"],
            record["type"].as_str().unwrap_or("?"),
            record["status"].as_str().unwrap_or("?")
        );
    }
    if let Some(list) = value.get("sharing_agreements").and_then(Value::as_array) {
        return format!("{} agreements", list.len());
    }
    if let Some(record) = value.get("ticket") {
        return format!(
            "id={} status={} sharing_agreement_ids={}",
            record["id"],
            record["status"].as_str().unwrap_or("?"),
            record["sharing_agreement_ids"]
        );
    }
    for (key, noun) in [
        ("tickets", "tickets"),
        ("comments", "comments"),
        ("audits", "audits"),
    ] {
        if let Some(list) = value.get(key).and_then(Value::as_array) {
            return format!("{} {noun}", list.len());
        }
    }
    let mut parts = Vec::new();
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        parts.push(error.to_string());
    }
    if let Some(details) = value.get("details").and_then(Value::as_object) {
        for (field, list) in details {
            for item in list.as_array().into_iter().flatten() {
                if let Some(description) = item.get("description").and_then(Value::as_str) {
                    parts.push(format!("{field}: {description}"));
                }
            }
        }
    } else if let Some(description) = value.get("description").and_then(Value::as_str) {
        parts.push(description.to_string());
    }
    parts.join(": ")
}

fn require_admin(user: &User) -> Result<(), ApiError> {
    match user.role {
        Role::Admin => Ok(()),
        Role::Agent => Err(ApiError::Forbidden),
    }
}

/// Parses `{id}` or `{id}.json`; anything else is a record that cannot exist.
fn parse_id(raw: &str) -> Result<u64, ApiError> {
    raw.strip_suffix(".json")
        .unwrap_or(raw)
        .parse::<u64>()
        .map_err(|_| ApiError::NotFound)
}

/// Parses a JSON object body and returns the object under `root`.
pub fn parse_envelope(body: &Bytes, root: &str) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            root,
            "BlankValue",
            format!("The body must be a JSON object like {{\"{root}\": {{…}}}}"),
        ));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::BadJson(e.to_string()))?;
    crate::limits::check_body(&value).map_err(too_large)?;
    match value.get(root) {
        Some(Value::Object(object)) => Ok(object.clone()),
        Some(_) => Err(ApiError::invalid(
            root,
            "InvalidValue",
            format!("{root} must be a JSON object"),
        )),
        None => Err(ApiError::invalid(
            root,
            "BlankValue",
            format!("The body must be a JSON object like {{\"{root}\": {{…}}}}"),
        )),
    }
}

/// A body over one of the documented limits: 422 naming the innermost field.
fn too_large(error: crate::limits::TooLarge) -> ApiError {
    let field = error.field.rsplit('.').next().unwrap_or("body");
    ApiError::invalid(field, "TooLong", error.message)
}

async fn list_agreements(State(account): State<Arc<Account>>) -> Result<Response, ApiError> {
    #[derive(serde::Serialize)]
    struct Listing<'a> {
        sharing_agreements: Vec<AgreementView<'a>>,
    }
    let api_url = account.api_url();
    // Serialised under the state lock straight from the copies (no clones, no `Value`),
    // and only when a copy changed since the last listing.
    let (body, count) = account.with_state(|state| {
        let count = state.all_agreements().count();
        let body = state.listing(&api_url, |state| {
            let listing = Listing {
                sharing_agreements: state
                    .all_agreements()
                    .map(|agreement| AgreementView::new(agreement, &api_url))
                    .collect(),
            };
            serde_json::to_vec(&listing).unwrap_or_default().into()
        });
        (body, count)
    });
    Ok(json_bytes_response(
        StatusCode::OK,
        body,
        format!("{count} agreements"),
    ))
}

async fn show_agreement(
    State(account): State<Arc<Account>>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&raw_id)?;
    let agreement = account.agreement_by_id(id).ok_or(ApiError::NotFound)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "sharing_agreement": account.agreement_json(&agreement) }),
    ))
}

async fn create_agreement(
    State(account): State<Arc<Account>>,
    axum::Extension(user): axum::Extension<User>,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_admin(&user)?;
    let fields = parse_envelope(&body, "sharing_agreement")?;
    let invitation = parse_invitation(&account, &fields)?;
    let agreement = account.invite(invitation).await;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "sharing_agreement": account.agreement_json(&agreement) }),
    ))
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
    body: Bytes,
) -> Result<Response, ApiError> {
    require_admin(&user)?;
    let id = parse_id(&raw_id)?;
    // Check the record exists before judging the body, as Zendesk does.
    account.agreement_by_id(id).ok_or(ApiError::NotFound)?;
    let fields = parse_envelope(&body, "sharing_agreement")?;
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
    let agreement = account.change_status(id, requested).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "sharing_agreement": account.agreement_json(&agreement) }),
    ))
}

async fn delete_agreement(
    State(account): State<Arc<Account>>,
    axum::Extension(user): axum::Extension<User>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(&user)?;
    let id = parse_id(&raw_id)?;
    account.delete_agreement(id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_match_zendesk() {
        assert_eq!(
            ApiError::Unauthorized.body().to_string(),
            r#"{"error":"Couldn't authenticate you"}"#
        );
        assert_eq!(
            ApiError::NotFound.body().to_string(),
            r#"{"error":"RecordNotFound","description":"Not found"}"#
        );
        let invalid = ApiError::invalid("status", "InvalidValue", "nope");
        assert_eq!(
            invalid.body().to_string(),
            r#"{"error":"RecordInvalid","description":"Record validation errors","details":{"status":[{"description":"nope","error":"InvalidValue"}]}}"#
        );
    }

    #[test]
    fn ids_accept_the_json_suffix() {
        assert_eq!(parse_id("12"), Ok(12));
        assert_eq!(parse_id("12.json"), Ok(12));
        assert_eq!(parse_id("x.json"), Err(ApiError::NotFound));
    }

    #[test]
    fn request_summaries_show_the_fields_written() {
        let body = json!({"ticket": {"comment": {"body": "Which tray?", "public": false}, "sharing_agreement_ids": [1]}});
        assert_eq!(
            summarize_request(body.to_string().as_bytes()),
            r#"comment.body="Which tray?" comment.public=false sharing_agreement_ids=[1]"#
        );
        let body = json!({"sharing_agreement": {"status": "accepted"}});
        assert_eq!(
            summarize_request(body.to_string().as_bytes()),
            "status=accepted"
        );
        assert_eq!(summarize_request(b"not json"), "");
    }

    #[test]
    fn summaries_name_errors_and_records() {
        let body = ApiError::invalid("status", "InvalidValue", "nope")
            .body()
            .to_string();
        assert_eq!(
            summarize_response(body.as_bytes()),
            "RecordInvalid: status: nope"
        );
        let record =
            json!({"sharing_agreement": {"id": 3, "type": "inbound", "status": "pending"}});
        assert_eq!(
            summarize_response(record.to_string().as_bytes()),
            "id=3 type=inbound status=pending"
        );
    }
}
