//! The race and message-control steps: actions started together (`concurrently`), and
//! what the scheduler's gate does to one link (`hold`, `release`, `duplicate`,
//! `lose_reply`).

use super::*;

/// `hold`, `duplicate` and `lose_reply`: one direction of the link between two accounts.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a link table: { from, to }")]
pub struct LinkTarget {
    /// The sending account.
    #[schemars(with = "String")]
    pub from: Ref,
    /// The receiving account.
    #[schemars(with = "String")]
    pub to: Ref,
}

/// `release`: delivers what a held link holds, and stops holding it; or, with
/// `message`, only the message chosen (the rest stay held).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a `release` table: { from, to, order? } or { from, to, message }"
)]
pub struct Release {
    /// The sending account.
    #[schemars(with = "String")]
    pub from: Ref,
    /// The receiving account.
    #[schemars(with = "String")]
    pub to: Ref,
    /// `fifo` (the default), `reverse`, or `seeded` (an order drawn from the seed).
    #[serde(default)]
    #[schemars(with = "ReleaseOrder")]
    pub order: Option<ReleaseOrder>,
    /// Deliver only this message of what the link holds, counting from 1 (the oldest):
    /// the order a learner chooses, one message at a time. The link goes on holding the
    /// others, and stops holding once it holds nothing. Not with `order`.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub message: Option<Spanned<u32>>,
}

/// Actions a `concurrently` group may not hold: checks look at the group's end state,
/// and a group inside a group adds nothing.
pub const NOT_CONCURRENT: &[&str] = &["concurrently", "expect", "wait", "expect_ticket"];

/// `concurrently`: the steps of a group, started together.
#[derive(Debug, Clone)]
pub struct Concurrently(pub Vec<Step>);

impl<'de> Deserialize<'de> for Concurrently {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let steps = Vec::<Step>::deserialize(deserializer)?;
        if steps.len() < 2 {
            return Err(de::Error::custom(format!(
                "`concurrently` needs at least two actions to race, found {}; e.g. \
                 `concurrently = [ {{ respond = {{ … }} }}, {{ deactivate = {{ … }} }} ]`",
                steps.len()
            )));
        }
        Ok(Concurrently(steps))
    }
}

impl JsonSchema for Concurrently {
    fn schema_name() -> Cow<'static, str> {
        "Concurrently".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let step = generator.subschema_for::<Step>().to_value();
        json_schema!({
            "description": "Action steps started together; their partner messages interleave in an order drawn from the seed.",
            "type": "array",
            "items": step,
            "minItems": 2,
        })
    }
}
