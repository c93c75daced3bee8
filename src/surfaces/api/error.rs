//! [`ApiError`]: every way a REST call can fail, with Zendesk's exact status and body,
//! and the mapping from what accounts refuse to what real clients parse.

use super::TraceSummary;
use crate::core::account::agreements::AgreementError;
use crate::core::account::tickets::TicketError;
use crate::core::rate_limit;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Every way a REST call can fail, each with Zendesk's exact status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
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
    /// 409 UpdateConflict: a `safe_update` from a stale read of the ticket.
    UpdateConflict,
    /// 400 with Zendesk's nested `{"error": {"title", "message"}}`: a query parameter
    /// (a page size, a cursor) that cannot be used.
    InvalidAttribute {
        /// The attribute as Zendesk names it (`page.size`).
        attribute: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl ApiError {
    pub(crate) fn invalid(field: &str, error: &str, description: impl Into<String>) -> ApiError {
        ApiError::RecordInvalid {
            field: field.to_string(),
            error: error.to_string(),
            description: description.into(),
        }
    }

    /// The HTTP status of this error.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::InvalidEndpoint => StatusCode::NOT_FOUND,
            ApiError::BadJson(_) => StatusCode::BAD_REQUEST,
            ApiError::RecordInvalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UpdateConflict => StatusCode::CONFLICT,
            ApiError::InvalidAttribute { .. } => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON body Zendesk answers with.
    pub(crate) fn body(&self) -> Value {
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
            ApiError::UpdateConflict => json!({
                "error": "UpdateConflict",
                "description": "Safe Update prevented the update due to outdated ticket data. Please fetch the latest ticket data and try again."
            }),
            ApiError::InvalidAttribute { attribute, problem } => json!({
                "error": {
                    "title": "Invalid attribute",
                    "message": format!("You passed an invalid value for the {attribute} attribute. Invalid parameter: {attribute} {problem} from api/v2/tickets/index")
                }
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
            response.extensions_mut().insert(TraceSummary(
                format!("rate limit exceeded: retry after {retry_after_secs} s"),
                Some(Bytes::from_static(rate_limit::EXCEEDED_BODY.as_bytes())),
            ));
            return response;
        }
        super::json_response(self.status(), &self.body())
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

impl From<TicketError> for ApiError {
    fn from(error: TicketError) -> Self {
        match error {
            TicketError::NotFound => ApiError::NotFound,
            TicketError::Invalid { field, description } => {
                ApiError::invalid(field, "InvalidValue", description)
            }
            TicketError::Conflict { .. } => ApiError::UpdateConflict,
        }
    }
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
        assert_eq!(ApiError::UpdateConflict.body()["error"], "UpdateConflict");
        assert_eq!(ApiError::UpdateConflict.status(), StatusCode::CONFLICT);
        let size = ApiError::InvalidAttribute {
            attribute: "page.size".into(),
            problem: "must be an integer".into(),
        };
        assert_eq!(
            size.body().to_string(),
            r#"{"error":{"title":"Invalid attribute","message":"You passed an invalid value for the page.size attribute. Invalid parameter: page.size must be an integer from api/v2/tickets/index"}}"#
        );
        let invalid = ApiError::invalid("status", "InvalidValue", "nope");
        assert_eq!(
            invalid.body().to_string(),
            r#"{"error":"RecordInvalid","description":"Record validation errors","details":{"status":[{"description":"nope","error":"InvalidValue"}]}}"#
        );
    }
}
