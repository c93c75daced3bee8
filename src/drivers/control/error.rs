//! The control API's one error type: every refusal is a JSON body naming what was
//! wrong and, for steps and snapshots, which step and field.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Every way a control call can be refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ControlError {
    /// 401: no bearer token, or the wrong one.
    #[error(
        "this call needs the header `Authorization: Bearer <control_token>` (the ready file's `control_token`)"
    )]
    Unauthorized,
    /// 404: no such control endpoint.
    #[error("no control endpoint {0}; see {{control_url}}/openapi.json")]
    NotFound(String),
    /// 405: the endpoint exists, not with this method.
    #[error("{0} is not allowed here")]
    MethodNotAllowed(String),
    /// 400: the body is not JSON, or a query parameter is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 422: a step is not valid; nothing ran.
    #[error("{}", .0)]
    InvalidStep(crate::drivers::scenario::json_steps::StepError),
    /// 422: the snapshot cannot be restored into this world; nothing changed.
    #[error("{}", .0)]
    InvalidSnapshot(crate::drivers::snapshot::SnapshotError),
    /// 422: a filter is not valid.
    #[error("{0}")]
    InvalidFilter(String),
    /// 500: the world refused to change.
    #[error("{0}")]
    Internal(String),
    /// 503: the change could not be made durable (`serve --state`) and was undone.
    #[error("{0}")]
    NotDurable(String),
    /// 421: the `Host` header names neither loopback nor the bound address (DNS
    /// rebinding: a web page reaching the API under its own name).
    #[error("{0}")]
    WrongHost(String),
}

/// The JSON body of every refusal.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct ErrorBody {
    /// A stable code: `unauthorized`, `not_found`, `method_not_allowed`, `bad_request`,
    /// `invalid_step`, `invalid_snapshot`, `invalid_filter`, `internal`, `not_durable`,
    /// `wrong_host`.
    pub error: &'static str,
    /// What is wrong and what to do, as a sentence.
    pub message: String,
    /// Index of the offending step in the array, from 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// Path of the offending field (inside the step, or inside the snapshot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ControlError {
    /// The HTTP status of this error.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ControlError::Unauthorized => StatusCode::UNAUTHORIZED,
            ControlError::NotFound(_) => StatusCode::NOT_FOUND,
            ControlError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ControlError::InvalidStep(_)
            | ControlError::InvalidSnapshot(_)
            | ControlError::InvalidFilter(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ControlError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ControlError::NotDurable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ControlError::WrongHost(_) => StatusCode::MISDIRECTED_REQUEST,
        }
    }

    /// The JSON body answered with the status.
    pub(crate) fn body(&self) -> ErrorBody {
        let (error, step, field, message) = match self {
            ControlError::Unauthorized => ("unauthorized", None, None, self.to_string()),
            ControlError::NotFound(_) => ("not_found", None, None, self.to_string()),
            ControlError::MethodNotAllowed(_) => {
                ("method_not_allowed", None, None, self.to_string())
            }
            ControlError::BadRequest(_) => ("bad_request", None, None, self.to_string()),
            ControlError::InvalidStep(e) => (
                "invalid_step",
                e.step,
                (!e.field.is_empty()).then(|| e.field.clone()),
                e.message.clone(),
            ),
            ControlError::InvalidSnapshot(e) => (
                "invalid_snapshot",
                None,
                (!e.field.is_empty()).then(|| e.field.clone()),
                e.message.clone(),
            ),
            ControlError::InvalidFilter(_) => ("invalid_filter", None, None, self.to_string()),
            ControlError::Internal(_) => ("internal", None, None, self.to_string()),
            ControlError::NotDurable(_) => ("not_durable", None, None, self.to_string()),
            ControlError::WrongHost(_) => ("wrong_host", None, None, self.to_string()),
        };
        ErrorBody {
            error,
            message,
            step,
            field,
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if self == ControlError::Unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"sharesim control\""),
            );
        }
        response
    }
}
