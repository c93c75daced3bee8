//! What `expect` and `wait` check: one agreement's fields, a count, a divergence.
//! The table is read key by key so a wrong mix of keys is reported where it is written.

use super::*;

/// What `expect` and `wait` check.
#[derive(Debug, Clone)]
pub enum Expectation {
    /// One agreement, seen from one account.
    Agreement(AgreementCheck),
    /// How many agreements an account has.
    Count(CountCheck),
    /// That both sides of an agreement disagree (e.g. after a crash point).
    Divergence(Ref),
    /// Both copies of an agreement, as a race may leave them: each in one of a set of
    /// statuses and, when asked, consistent with nothing about it still in flight.
    Pair(PairCheck),
    /// How many messages a held link holds in flight.
    InFlight(InFlightCheck),
}

/// `expect = { agreement, status = [..], converged = true }`: the end condition of a race.
#[derive(Debug, Clone)]
pub struct PairCheck {
    /// The agreement handle.
    pub agreement: Ref,
    /// Each copy that exists must be in one of these (empty: any status).
    pub statuses: Vec<AgreementStatus>,
    /// true: the copies agree (a pair the model allows) and no message about the
    /// agreement is in flight; false: they do not (yet) agree.
    pub converged: Option<bool>,
}

/// `expect = { in_flight = { from, to, count } }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an `in_flight` table: { from, to, count }"
)]
pub struct InFlightCheck {
    /// The sending account.
    #[schemars(with = "String")]
    pub from: Ref,
    /// The receiving account.
    #[schemars(with = "String")]
    pub to: Ref,
    /// How many messages the link holds.
    pub count: u32,
}

/// A status, or a list of statuses any of which will do.
#[derive(Debug, Clone)]
struct StatusSet(Vec<AgreementStatus>);

impl<'de> Deserialize<'de> for StatusSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let many = match &value {
            Value::Array(_) => true,
            Value::String(_) => false,
            _ => {
                return Err(de::Error::custom(
                    "`status` takes a status or a list of statuses, e.g. `status = \"accepted\"` or `status = [\"accepted\", \"inactive\"]`",
                ));
            }
        };
        let read = |value: &Value| -> Result<AgreementStatus, D::Error> {
            AgreementStatus::deserialize(value.clone()).map_err(de::Error::custom)
        };
        if many {
            let items = value.as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                return Err(de::Error::custom(
                    "`status = []` allows nothing; list at least one status",
                ));
            }
            items
                .iter()
                .map(read)
                .collect::<Result<_, _>>()
                .map(StatusSet)
        } else {
            read(&value).map(|status| StatusSet(vec![status]))
        }
    }
}

/// Checks one agreement in one account; unset fields are not checked.
#[derive(Debug, Clone)]
pub struct AgreementCheck {
    /// The account whose view is checked.
    pub account: Ref,
    /// The agreement handle.
    pub agreement: Ref,
    /// The account must have no such agreement.
    pub absent: bool,
    /// `id`.
    pub id: Option<i64>,
    /// `name`.
    pub name: Option<String>,
    /// `partner_name`; `""` means null (no partner integration).
    pub partner_name: Option<String>,
    /// `remote_subdomain`.
    pub remote_subdomain: Option<String>,
    /// `status`.
    pub status: Option<AgreementStatus>,
    /// `type`.
    pub direction: Option<Direction>,
    /// `url`.
    pub url: Option<String>,
    /// `created_at`.
    pub created_at: Option<String>,
    /// `updated_at`.
    pub updated_at: Option<String>,
}

/// Counts an account's agreements, optionally only those of one type and status.
#[derive(Debug, Clone)]
pub struct CountCheck {
    /// The account.
    pub account: Ref,
    /// The expected number.
    pub count: u32,
    /// Only agreements of this type.
    pub direction: Option<Direction>,
    /// Only agreements in this status.
    pub status: Option<AgreementStatus>,
}

/// Keys that only an agreement check takes (its field values).
const AGREEMENT_FIELD_KEYS: &[&str] = &[
    "id",
    "name",
    "partner_name",
    "remote_subdomain",
    "url",
    "created_at",
    "updated_at",
];

/// Every key an expectation table may hold.
const EXPECTATION_KEYS: &[&str] = &[
    "account",
    "agreement",
    "absent",
    "id",
    "name",
    "partner_name",
    "remote_subdomain",
    "status",
    "type",
    "url",
    "created_at",
    "updated_at",
    "count",
    "divergence",
    "converged",
    "in_flight",
];

/// Says why `key` cannot join the keys already seen in an expectation table.
fn check_expectation_key(key: &str, seen: &[String]) -> Result<(), String> {
    if !EXPECTATION_KEYS.contains(&key) {
        return Err(format!(
            "unknown key `{key}` in an expectation; allowed keys are {}",
            list(EXPECTATION_KEYS)
        ));
    }
    for other in seen {
        let pair = [key, other.as_str()];
        let has = |name: &str| pair.contains(&name);
        let field = pair.iter().find(|k| AGREEMENT_FIELD_KEYS.contains(k));
        if has("in_flight") {
            return Err(format!(
                "`{key}` cannot be combined with `{other}`: an in-flight check is only \
                 `{{ in_flight = {{ from, to, count }} }}`"
            ));
        }
        if has("converged")
            && (has("account") || has("absent") || has("count") || has("type") || field.is_some())
        {
            return Err(format!(
                "`{key}` cannot be combined with `{other}`: `converged` checks both copies \
                 of an agreement, so it takes only `agreement` and `status`"
            ));
        }
        if has("divergence") {
            return Err(format!(
                "`{key}` cannot be combined with `{other}`: a divergence check is only \
                 `{{ divergence = \"<agreement>\" }}`"
            ));
        }
        if has("count") && (has("agreement") || has("absent") || field.is_some()) {
            return Err(format!(
                "`{key}` cannot be combined with `{other}`: a count check takes only \
                 `account`, `count`, `type` and `status`"
            ));
        }
        if has("absent") && (field.is_some() || has("status") || has("type")) {
            return Err(format!(
                "`{key}` cannot be combined with `{other}`: an absent agreement has no \
                 fields to check"
            ));
        }
    }
    Ok(())
}

impl<'de> Deserialize<'de> for Expectation {
    /// Reads the keys one by one so that a key which does not fit the others is reported
    /// where it is written.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ExpectationVisitor)
    }
}

struct ExpectationVisitor;

impl<'de> Visitor<'de> for ExpectationVisitor {
    type Value = Expectation;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "an expectation table: { account, agreement, <fields>? }, \
             { account, count, type?, status? }, { divergence }, \
             { agreement, status?, converged? } or { in_flight }",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Expectation, A::Error> {
        let mut seen: Vec<String> = Vec::new();
        let mut account: Option<Ref> = None;
        let mut agreement: Option<Ref> = None;
        let mut absent = None;
        let mut id = None;
        let mut name = None;
        let mut partner_name = None;
        let mut remote_subdomain = None;
        let mut status = None;
        let mut direction = None;
        let mut url = None;
        let mut created_at = None;
        let mut updated_at = None;
        let mut count = None;
        let mut divergence = None;
        let mut converged = None;
        let mut in_flight = None;
        loop {
            let seed = KeySeed(&|key: &str| check_expectation_key(key, &seen));
            let Some(key) = map.next_key_seed(seed)? else {
                break;
            };
            match key.as_str() {
                "account" => account = Some(map.next_value()?),
                "agreement" => agreement = Some(map.next_value()?),
                "absent" => absent = Some(map.next_value()?),
                "id" => id = Some(map.next_value()?),
                "name" => name = Some(map.next_value()?),
                "partner_name" => partner_name = Some(map.next_value()?),
                "remote_subdomain" => remote_subdomain = Some(map.next_value()?),
                "status" => status = Some(map.next_value::<StatusSet>()?),
                "type" => direction = Some(map.next_value()?),
                "url" => url = Some(map.next_value()?),
                "created_at" => created_at = Some(map.next_value()?),
                "updated_at" => updated_at = Some(map.next_value()?),
                "count" => count = Some(map.next_value()?),
                "converged" => converged = Some(map.next_value()?),
                "in_flight" => in_flight = Some(map.next_value()?),
                _ => divergence = Some(map.next_value()?),
            }
            seen.push(key);
        }
        if let Some(handle) = divergence {
            return Ok(Expectation::Divergence(handle));
        }
        if let Some(check) = in_flight {
            return Ok(Expectation::InFlight(check));
        }
        if let (None, Some(agreement)) = (&account, &agreement) {
            return Ok(Expectation::Pair(PairCheck {
                agreement: agreement.clone(),
                statuses: status.map(|set: StatusSet| set.0).unwrap_or_default(),
                converged,
            }));
        }
        if converged.is_some() {
            return Err(de::Error::custom(
                "`converged` checks both copies of an agreement: write `{ agreement, status?, converged }` without `account`",
            ));
        }
        let status = match status {
            None => None,
            Some(StatusSet(statuses)) if statuses.len() == 1 => Some(statuses[0]),
            Some(_) => {
                return Err(de::Error::custom(
                    "a list of statuses checks both copies of an agreement: write `{ agreement, status = [..] }` without `account`, or give this account one status",
                ));
            }
        };
        let Some(account) = account else {
            return Err(if count.is_none() && agreement.is_none() {
                missing_expectation_kind()
            } else {
                de::Error::missing_field("account")
            });
        };
        if let Some(count) = count {
            return Ok(Expectation::Count(CountCheck {
                account,
                count,
                direction,
                status,
            }));
        }
        let Some(agreement) = agreement else {
            return Err(missing_expectation_kind());
        };
        Ok(Expectation::Agreement(AgreementCheck {
            account,
            agreement,
            absent: absent.unwrap_or(false),
            id,
            name,
            partner_name,
            remote_subdomain,
            status,
            direction,
            url,
            created_at,
            updated_at,
        }))
    }
}

fn missing_expectation_kind<E: de::Error>() -> E {
    E::custom(
        "an expectation needs `account` and `agreement` (check one agreement), `account` \
         and `count` (count agreements), or `divergence`",
    )
}

impl JsonSchema for Expectation {
    fn schema_name() -> Cow<'static, str> {
        "Expectation".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let string = generator.subschema_for::<String>().to_value();
        let status = generator.subschema_for::<AgreementStatus>().to_value();
        let direction = generator.subschema_for::<Direction>().to_value();
        let in_flight = generator.subschema_for::<InFlightCheck>().to_value();
        json_schema!({
            "oneOf": [
                {
                    "description": "One agreement, seen from one account.",
                    "type": "object",
                    "properties": {
                        "account": string, "agreement": string,
                        "absent": { "type": "boolean" },
                        "id": { "type": "integer" },
                        "name": string, "partner_name": string, "remote_subdomain": string,
                        "status": status, "type": direction,
                        "url": string, "created_at": string, "updated_at": string,
                    },
                    "required": ["account", "agreement"],
                    "additionalProperties": false,
                },
                {
                    "description": "How many agreements an account has.",
                    "type": "object",
                    "properties": {
                        "account": string,
                        "count": { "type": "integer", "minimum": 0 },
                        "type": direction, "status": status,
                    },
                    "required": ["account", "count"],
                    "additionalProperties": false,
                },
                {
                    "description": "Both sides of an agreement disagree.",
                    "type": "object",
                    "properties": { "divergence": string },
                    "required": ["divergence"],
                    "additionalProperties": false,
                },
                {
                    "description": "Both copies of an agreement, as a race may leave them: each in one of the statuses; converged means they agree and nothing about it is in flight.",
                    "type": "object",
                    "properties": {
                        "agreement": string,
                        "status": { "anyOf": [status, { "type": "array", "items": status, "minItems": 1 }] },
                        "converged": { "type": "boolean" },
                    },
                    "required": ["agreement"],
                    "additionalProperties": false,
                },
                {
                    "description": "How many messages a held link holds in flight.",
                    "type": "object",
                    "properties": { "in_flight": in_flight },
                    "required": ["in_flight"],
                    "additionalProperties": false,
                },
            ]
        })
    }
}
