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
             { account, count, type?, status? } or { divergence }",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Expectation, A::Error> {
        let mut seen: Vec<String> = Vec::new();
        let mut account = None;
        let mut agreement = None;
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
                "status" => status = Some(map.next_value()?),
                "type" => direction = Some(map.next_value()?),
                "url" => url = Some(map.next_value()?),
                "created_at" => created_at = Some(map.next_value()?),
                "updated_at" => updated_at = Some(map.next_value()?),
                "count" => count = Some(map.next_value()?),
                _ => divergence = Some(map.next_value()?),
            }
            seen.push(key);
        }
        if let Some(handle) = divergence {
            return Ok(Expectation::Divergence(handle));
        }
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
            ]
        })
    }
}
