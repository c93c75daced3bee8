//! One step of a scenario: exactly one action (the `actions!` list names them all)
//! plus the checks any step may carry, read with errors pointing at the key or value
//! that is wrong.

use super::*;

/// One step: exactly one action plus the optional checks every step may carry.
#[derive(Debug, Clone)]
pub struct Step {
    /// What the step does.
    pub action: Action,
    /// Prose shown in reports and traces next to the step.
    pub note: Option<String>,
    /// The HTTP status the step's call must answer with (instead of plain success).
    pub expect_status: Option<u16>,
    /// A substring the refusal's error description must contain.
    pub expect_error: Option<String>,
    /// A JSON value the response body must contain (subset match).
    pub expect_body: Option<Value>,
    /// Byte span of the step's table in the source.
    pub span: Range<usize>,
    /// 1-based position of the step's table, filled in by `parse`.
    pub position: Position,
    /// Inside a `concurrently` group: with no `expect_status`/`expect_error`, a refusal
    /// (4xx) is one outcome of the race rather than a failure. Filled in by `parse`.
    pub in_group: bool,
}

impl Step {
    /// The status this step expects, wherever it was written (`request` may carry its own).
    pub fn expected_status(&self) -> Option<u16> {
        match &self.action {
            Action::Request(request) => self.expect_status.or(request.expect_status),
            _ => self.expect_status,
        }
    }

    /// The body this step expects, wherever it was written (`request` may carry its own).
    pub fn expected_body(&self) -> Option<&Value> {
        match &self.action {
            Action::Request(request) => self.expect_body.as_ref().or(request.expect_body.as_ref()),
            _ => self.expect_body.as_ref(),
        }
    }
}

/// The keys any step may carry besides its action.
pub const STEP_COMMON_KEYS: &[&str] = &["note", "expect_status", "expect_error", "expect_body"];

/// Declares `Action` from one line per action, so that adding an action is one line here
/// (plus its handler in the runner): the enum, its key list, the step deserializer's
/// dispatch and the schema all come from the same list.
macro_rules! actions {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $key:literal, )*) => {
        /// What a step does; one variant per action key of the file format.
        #[derive(Debug, Clone)]
        pub enum Action {
            $( $(#[$doc])* $variant($ty), )*
        }

        impl Action {
            /// Every action key a step may hold, in documentation order.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// The key this action is written under, for messages and traces.
            pub fn key(&self) -> &'static str {
                match self {
                    $( Action::$variant(_) => $key, )*
                }
            }

            /// Reads the value of action key `key` from a step table; `None` if `key` is
            /// not an action.
            fn next_from_map<'de, A: MapAccess<'de>>(
                key: &str,
                map: &mut A,
            ) -> Result<Option<Action>, A::Error> {
                Ok(Some(match key {
                    $( $key => Action::$variant(map.next_value()?), )*
                    _ => return Ok(None),
                }))
            }

            /// The schema of every action's value, keyed by action.
            fn schemas(generator: &mut SchemaGenerator) -> Vec<(&'static str, Schema)> {
                vec![$( ($key, generator.subschema_for::<$ty>()), )*]
            }
        }
    };
}

actions! {
    /// An admin creates an outbound agreement; the partner is sent an invitation.
    Invite(Invite) = "invite",
    /// The receiver accepts or declines a pending invitation.
    Respond(Respond) = "respond",
    /// Either side deactivates an agreement (it can never be reactivated).
    Deactivate(AgreementTarget) = "deactivate",
    /// An admin deletes an agreement through the REST API.
    Delete(AgreementTarget) = "delete",
    /// The sender re-sends a failed invitation (`PUT status: "pending"`).
    Resend(Resend) = "resend",
    /// A raw REST call, for what the other actions do not cover.
    Request(Request) = "request",
    /// Waits until an expectation holds, or fails after a timeout.
    Wait(Wait) = "wait",
    /// Checks an expectation now.
    Expect(Expectation) = "expect",
    /// Swaps the certificate an account presents.
    Certificate(Certificate) = "certificate",
    /// Breaks the links into an account.
    Fault(Fault) = "fault",
    /// Removes faults from the links into an account.
    Heal(Heal) = "heal",
    /// Stops an account's listener (it refuses connections).
    Stop(AccountTarget) = "stop",
    /// Starts an account that was stopped or declared with `start = false`.
    Start(AccountTarget) = "start",
    /// Stops and starts an account again, keeping its state.
    Restart(AccountTarget) = "restart",
    /// Creates a ticket in an account.
    Ticket(NewTicket) = "ticket",
    /// Shares a ticket over an accepted outbound agreement.
    Share(Share) = "share",
    /// Stops sharing a ticket; the receiver keeps an orphan copy.
    Unshare(Unshare) = "unshare",
    /// Adds a comment to a ticket.
    Comment(Comment) = "comment",
    /// Changes a ticket's status.
    SetStatus(SetStatus) = "set_status",
    /// Checks a ticket's state in one account.
    ExpectTicket(ExpectTicket) = "expect_ticket",
    /// Starts actions together; the scheduler interleaves their messages by the seed.
    Concurrently(Concurrently) = "concurrently",
    /// Partner messages on one link wait in flight instead of being delivered.
    Hold(LinkTarget) = "hold",
    /// Delivers what a held link holds, in an order, and stops holding it.
    Release(Release) = "release",
    /// The next partner message on one link is delivered twice.
    Duplicate(LinkTarget) = "duplicate",
    /// The next partner message on one link is processed, but its reply is lost.
    LoseReply(LinkTarget) = "lose_reply",
}

impl<'de> Deserialize<'de> for Step {
    /// Takes the step's table, pulls the common keys and requires exactly one action key.
    /// Needs a TOML deserializer: the step's span comes from `toml::Spanned`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let body = Spanned::<StepBody>::deserialize(deserializer)?;
        let span = body.span();
        let body = body.into_inner();
        Ok(Step {
            action: body.action,
            note: body.note,
            expect_status: body.expect_status,
            expect_error: body.expect_error,
            expect_body: body.expect_body,
            span,
            position: Position::default(),
            in_group: false,
        })
    }
}

/// A step's content before its span is attached.
struct StepBody {
    action: Action,
    note: Option<String>,
    expect_status: Option<u16>,
    expect_error: Option<String>,
    expect_body: Option<Value>,
}

impl<'de> Deserialize<'de> for StepBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StepVisitor)
    }
}

struct StepVisitor;

impl<'de> Visitor<'de> for StepVisitor {
    type Value = StepBody;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a step table holding one action ({})",
            list(Action::KEYS)
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StepBody, A::Error> {
        let mut action: Option<Action> = None;
        let mut note = None;
        let mut expect_status = None;
        let mut expect_error = None;
        let mut expect_body = None;
        loop {
            let first = action.as_ref().map(Action::key);
            let seed = KeySeed(&|key: &str| check_step_key(key, first));
            let Some(key) = map.next_key_seed(seed)? else {
                break;
            };
            match key.as_str() {
                "note" => note = Some(map.next_value()?),
                "expect_status" => expect_status = Some(map.next_value_seed(Checked(http_status))?),
                "expect_error" => expect_error = Some(map.next_value()?),
                "expect_body" => expect_body = Some(map.next_value()?),
                other => action = Action::next_from_map(other, &mut map)?,
            }
        }
        let Some(action) = action else {
            return Err(de::Error::custom(format!(
                "this step has no action; a step takes exactly one of {}",
                list(Action::KEYS)
            )));
        };
        Ok(StepBody {
            action,
            note,
            expect_status,
            expect_error,
            expect_body,
        })
    }
}

/// Says what is wrong with a key of a step table, given the action already seen.
fn check_step_key(key: &str, first_action: Option<&str>) -> Result<(), String> {
    if STEP_COMMON_KEYS.contains(&key) {
        return Ok(());
    }
    if !Action::KEYS.contains(&key) {
        return Err(format!(
            "unknown key `{key}` in a step; a step takes one action ({}) and optionally {}",
            list(Action::KEYS),
            list(STEP_COMMON_KEYS)
        ));
    }
    match first_action {
        Some(first) => Err(format!(
            "this step has two actions, `{first}` and `{key}`; a step takes exactly one \
             action, so split them into two `[[steps]]`"
        )),
        None => Ok(()),
    }
}

impl JsonSchema for Step {
    fn schema_name() -> Cow<'static, str> {
        "Step".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let common = [
            ("note", json!({ "type": "string" })),
            (
                "expect_status",
                json!({ "type": "integer", "minimum": 100, "maximum": 599 }),
            ),
            ("expect_error", json!({ "type": "string" })),
            ("expect_body", json!(true)),
        ];
        let branches: Vec<Value> = Action::schemas(generator)
            .into_iter()
            .map(|(key, schema)| {
                let mut properties = Map::new();
                properties.insert(key.into(), schema.to_value());
                for (name, schema) in &common {
                    properties.insert((*name).into(), schema.clone());
                }
                json!({
                    "type": "object",
                    "properties": properties,
                    "required": [key],
                    "additionalProperties": false,
                })
            })
            .collect();
        json_schema!({
            "description": "Exactly one action key, plus optional common keys.",
            "oneOf": branches,
        })
    }
}
