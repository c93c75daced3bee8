//! Calls made by hand, to provoke the refusals a well-behaved endpoint must give: a
//! repeated invitation, another key, a uuid that differs, missing fields, a body that is
//! not JSON; a missing or wrong token, an unknown uuid, an unsupported version, an
//! oversized body, a method the protocol has not. Each is sent straight to the endpoint
//! (only ever under its sharing URL) and graded on the answer alone.

use super::Check;
use crate::core::directory::{Directory, ExternalUrl};
use crate::core::network::Network;
use crate::core::network::client::{HttpClient, Resolve};
use crate::core::transport::{PROTOCOL_VERSION, TOKEN_HEADER, VERSION_HEADER};
use axum::http::{HeaderMap, Method, Request, header};
use bytes::Bytes;
use http_body_util::Full;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::time::Duration;

/// The largest body the protocol takes: 2 MiB.
const MAX_BODY: usize = crate::core::limits::MAX_BODY_BYTES;

/// What one call got back.
pub(super) struct Exchange {
    /// What was sent, in words.
    pub sent: String,
    /// The status (None: no answer).
    pub status: Option<u16>,
    /// The answer's headers.
    pub headers: HeaderMap,
    /// The answer's body, or why there was none.
    pub body: String,
}

impl Exchange {
    /// The answer in words: status, a header the check cares about, the body's start.
    pub(super) fn received(&self, header: Option<&str>) -> String {
        let Some(status) = self.status else {
            return format!("no answer: {}", self.body);
        };
        let mut text = status.to_string();
        if let Some(name) = header {
            match self.headers.get(name).and_then(|v| v.to_str().ok()) {
                Some(value) => {
                    let _ = write!(text, ", {name}: {value}");
                }
                None => {
                    let _ = write!(text, ", no {name} header");
                }
            }
        }
        let body: String = self.body.trim().chars().take(160).collect();
        if !body.is_empty() {
            let _ = write!(text, ", body: {body}");
        }
        text
    }

    /// Ok when the status is `expected`, else why not.
    pub(super) fn expect(&self, expected: u16, rule: &str) -> Result<(), String> {
        match self.status {
            Some(status) if status == expected => Ok(()),
            Some(status) => Err(format!("{rule}; the endpoint answered {status}")),
            None => Err(format!(
                "{rule}; the endpoint gave no answer ({})",
                self.body
            )),
        }
    }
}

/// Sends calls by hand to the endpoint under test, and nowhere else.
pub(super) struct Prober {
    url: ExternalUrl,
    client: HttpClient,
    timeout: Duration,
}

impl Prober {
    /// A prober for the endpoint at `url`, known to `directory` as an external account,
    /// trusting the CAs in `partner_ca_pem` for an HTTPS endpoint.
    pub(super) fn new(
        url: ExternalUrl,
        directory: Directory,
        timeout: Duration,
        partner_ca_pem: &[String],
    ) -> Result<Prober, String> {
        let tls = crate::core::tls::partner_client_config(None, partner_ca_pem)
            .map_err(|e| e.to_string())?;
        Ok(Prober {
            url,
            client: HttpClient::new(
                Network::Loopback,
                Resolve::Partners(directory),
                tls,
                crate::core::limits::MAX_BODY_BYTES,
            ),
            timeout,
        })
    }

    /// Sends `method` to `rest` under the sharing URL. `token` and `version` go in their
    /// headers when given; `body` is sent as it is.
    pub(super) async fn call(
        &self,
        method: Method,
        rest: &str,
        token: Option<&str>,
        version: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Exchange {
        let url = match self.url.join(rest) {
            Ok(url) => url,
            Err(why) => {
                return Exchange {
                    sent: format!("{method} {rest}"),
                    status: None,
                    headers: HeaderMap::new(),
                    body: why,
                };
            }
        };
        let sent = describe(&method, url.as_str(), token, version, body.as_deref());
        let mut request = Request::builder()
            .method(method)
            .uri(url.as_str())
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("sharesim-conform/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(version) = version {
            request = request.header(VERSION_HEADER, version);
        }
        if let Some(token) = token {
            request = request.header(TOKEN_HEADER, token);
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = match request.body(Full::new(Bytes::from(body.unwrap_or_default()))) {
            Ok(request) => request,
            Err(error) => {
                return Exchange {
                    sent,
                    status: None,
                    headers: HeaderMap::new(),
                    body: error.to_string(),
                };
            }
        };
        match tokio::time::timeout(self.timeout, self.client.send(request)).await {
            Err(_) => Exchange {
                sent,
                status: None,
                headers: HeaderMap::new(),
                body: format!("timed out after {} ms", self.timeout.as_millis()),
            },
            Ok(Err(error)) => Exchange {
                sent,
                status: None,
                headers: HeaderMap::new(),
                body: error.to_string(),
            },
            Ok(Ok(answer)) => Exchange {
                sent,
                status: Some(answer.status),
                headers: answer.headers,
                body: String::from_utf8_lossy(&answer.body).into_owned(),
            },
        }
    }

    /// A protocol call as a well-behaved sender makes it: version 1, JSON body.
    pub(super) async fn send(
        &self,
        method: Method,
        rest: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Exchange {
        let body = serde_json::to_vec(body).unwrap_or_default();
        self.call(method, rest, token, Some(PROTOCOL_VERSION), Some(body))
            .await
    }
}

/// A call in words, with the body's start.
fn describe(
    method: &Method,
    url: &str,
    token: Option<&str>,
    version: Option<&str>,
    body: Option<&[u8]>,
) -> String {
    let mut text = format!("{method} {url}");
    match token {
        Some(token) => {
            let _ = write!(text, " with {TOKEN_HEADER}: {token}");
        }
        None => {
            let _ = write!(text, " without {TOKEN_HEADER}");
        }
    }
    if let Some(version) = version {
        let _ = write!(text, ", {VERSION_HEADER}: {version}");
    }
    if let Some(body) = body {
        if body.len() > 1024 {
            let _ = write!(text, ", a body of {} bytes", body.len());
        } else {
            let _ = write!(text, ", body: {}", String::from_utf8_lossy(body));
        }
    }
    text
}

/// A fresh 40-hex identifier (uuids and keys nobody holds).
pub(super) fn fresh() -> String {
    crate::core::account::random_token()
}

/// The invitation family's probes, around the real invitation `invitation` (whose uuid
/// and key the endpoint holds, if it took it).
pub(super) async fn invitations(prober: &Prober, invitation: &Value) -> Vec<Check> {
    let uuid = invitation["uuid"].as_str().unwrap_or_default().to_string();
    let path = format!("/agreements/{uuid}");
    let mut checks = Vec::new();

    let again = prober.send(Method::POST, &path, None, invitation).await;
    checks.push(check(
        "invitation.repeated",
        &again,
        None,
        again.expect(
            200,
            "the same invitation again (same uuid, same key) must be answered 200 and keep one copy",
        ),
    ));

    let mut other_key = invitation.clone();
    other_key["access_key"] = json!(fresh());
    let other = prober.send(Method::POST, &path, None, &other_key).await;
    checks.push(check(
        "invitation.other_key",
        &other,
        None,
        other.expect(
            422,
            "the same uuid with another access key must be refused with 422 (it is not the same agreement)",
        ),
    ));

    let mut mismatched = invitation.clone();
    mismatched["uuid"] = json!(fresh());
    let mismatch = prober
        .send(
            Method::POST,
            &format!("/agreements/{}", fresh()),
            None,
            &mismatched,
        )
        .await;
    checks.push(check(
        "invitation.uuid_mismatch",
        &mismatch,
        None,
        mismatch.expect(
            422,
            "a body whose uuid differs from the path's must be refused with 422",
        ),
    ));

    checks.push(missing_fields(prober, invitation).await);

    let garbled = prober
        .call(
            Method::POST,
            &format!("/agreements/{}", fresh()),
            None,
            Some(PROTOCOL_VERSION),
            Some(b"{\"uuid\": ".to_vec()),
        )
        .await;
    checks.push(check(
        "invitation.malformed_body",
        &garbled,
        None,
        garbled.expect(400, "a body that is not JSON must be refused with 400"),
    ));
    checks
}

/// `invitation.missing_fields`: an invitation without each field it needs, in turn.
async fn missing_fields(prober: &Prober, invitation: &Value) -> Check {
    let mut last = None;
    for field in ["access_key", "sender_url", "name"] {
        let uuid = fresh();
        let mut incomplete = invitation.clone();
        incomplete["uuid"] = json!(uuid);
        if let Some(map) = incomplete.as_object_mut() {
            map.remove(field);
        }
        let exchange = prober
            .send(
                Method::POST,
                &format!("/agreements/{uuid}"),
                None,
                &incomplete,
            )
            .await;
        let verdict = exchange.expect(
            422,
            &format!("an invitation without `{field}` must be refused with 422"),
        );
        if verdict.is_err() {
            return check("invitation.missing_fields", &exchange, None, verdict);
        }
        last = Some(exchange);
    }
    let exchange = last.expect("three probes ran");
    check("invitation.missing_fields", &exchange, None, Ok(()))
}

/// The token family's probes on the agreement `uuid` (key `key`), whose invitation is
/// `invitation`.
pub(super) async fn tokens(prober: &Prober, invitation: &Value, key: &str) -> Vec<Check> {
    let uuid = invitation["uuid"].as_str().unwrap_or_default().to_string();
    let path = format!("/agreements/{uuid}");
    // A harmless update: the sender restating its invitation's status.
    let restated = json!({"uuid": uuid, "status": "pending"});
    let mut checks = Vec::new();

    checks.push(missing_token(prober, &path, &restated).await);

    let wrong = prober
        .send(
            Method::PUT,
            &path,
            Some(&format!("{uuid}:{}", fresh())),
            &restated,
        )
        .await;
    checks.push(check(
        "token.wrong_key",
        &wrong,
        None,
        wrong.expect(
            403,
            "a token with the wrong access key must be refused with 403",
        ),
    ));

    let unknown = fresh();
    let nobody = prober
        .send(
            Method::PUT,
            &format!("/agreements/{unknown}"),
            Some(&format!("{unknown}:{key}")),
            &json!({"uuid": unknown, "status": "accepted"}),
        )
        .await;
    checks.push(check(
        "token.unknown_uuid",
        &nobody,
        None,
        nobody.expect(
            404,
            "a call about an agreement the endpoint does not hold must be answered 404",
        ),
    ));

    let mut later = invitation.clone();
    let later_uuid = fresh();
    later["uuid"] = json!(later_uuid);
    let body = serde_json::to_vec(&later).unwrap_or_default();
    let version = prober
        .call(
            Method::POST,
            &format!("/agreements/{later_uuid}"),
            None,
            Some("2"),
            Some(body),
        )
        .await;
    checks.push(check(
        "token.unsupported_version",
        &version,
        None,
        version.expect(
            412,
            "X-Ticket-Sharing-Version 2 must be refused with 412: the protocol is version 1",
        ),
    ));

    let big_uuid = fresh();
    let mut big = invitation.clone();
    big["uuid"] = json!(big_uuid);
    big["name"] = json!("x".repeat(MAX_BODY));
    let oversized = prober
        .send(Method::POST, &format!("/agreements/{big_uuid}"), None, &big)
        .await;
    checks.push(check(
        "token.oversized_body",
        &oversized,
        None,
        oversized.expect(413, "a body over 2 MiB must be refused with 413"),
    ));

    let patch = prober
        .send(
            Method::PATCH,
            &path,
            Some(&format!("{uuid}:{key}")),
            &restated,
        )
        .await;
    checks.push(check(
        "token.method_not_allowed",
        &patch,
        None,
        patch.expect(
            405,
            "a method the protocol does not have (PATCH) must be answered 405",
        ),
    ));
    checks
}

/// `token.missing`: 401, and a `WWW-Authenticate` that says how to authenticate.
async fn missing_token(prober: &Prober, path: &str, restated: &Value) -> Check {
    let missing = prober.send(Method::PUT, path, None, restated).await;
    let authenticate = missing
        .headers
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let verdict = missing
        .expect(401, "a call without X-Ticket-Sharing-Token must be answered 401")
        .and_then(|()| {
            if authenticate.contains("X-Ticket-Sharing") {
                Ok(())
            } else {
                Err("a 401 must carry `WWW-Authenticate: X-Ticket-Sharing`, saying how to authenticate".to_string())
            }
        });
    check("token.missing", &missing, Some("www-authenticate"), verdict)
}

/// A check graded on one exchange.
pub(super) fn check(
    name: &'static str,
    exchange: &Exchange,
    header: Option<&str>,
    verdict: Result<(), String>,
) -> Check {
    Check::new(
        name,
        exchange.sent.clone(),
        exchange.received(header),
        verdict,
    )
}
