//! Faults as a scenario writes them: `fault` steps and an account's `fault` key, one
//! kind each (`down`, `hang`, `latency_ms`, `status`, `retry_after`, `reset`,
//! `redirect_loop`, `crash`), with the schema of each kind. A file's fault is read
//! straight into the world's own [`WorldFault`]: there is one fault vocabulary, not one
//! per layer.

use super::*;
use crate::core::faults::Fault as WorldFault;

/// `fault`: breaks the links into `account` (from every account, or only from `from`).
#[derive(Debug, Clone)]
pub struct Fault {
    /// The account whose incoming links break.
    pub account: Ref,
    /// How they break.
    pub rule: FaultRule,
}

/// How links into an account break; also what an account's `fault` key declares.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// Only the link from this account; every link when omitted.
    pub from: Option<Ref>,
    /// Only the next `times` calls; every call when omitted.
    pub times: Option<u32>,
    /// What goes wrong.
    pub fault: WorldFault,
}

/// The keys naming a fault's kind, exactly one of which a fault holds.
pub const FAULT_KINDS: &[&str] = &[
    "down",
    "hang",
    "reset",
    "redirect_loop",
    "latency_ms",
    "status",
    "retry_after",
    "crash",
];

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (account, rule) = deserializer.deserialize_map(FaultVisitor { in_step: true })?;
        match account {
            Some(account) => Ok(Fault { account, rule }),
            None => Err(de::Error::missing_field("account")),
        }
    }
}

impl<'de> Deserialize<'de> for FaultRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (_, rule) = deserializer.deserialize_map(FaultVisitor { in_step: false })?;
        Ok(rule)
    }
}

/// Reads a fault table; `in_step` says whether it names its account (a `fault` step) or
/// belongs to an account's table (which names it already).
struct FaultVisitor {
    in_step: bool,
}

impl FaultVisitor {
    fn allowed_keys(&self) -> Vec<&'static str> {
        let mut keys = if self.in_step {
            vec!["account"]
        } else {
            Vec::new()
        };
        keys.extend(["from", "times"]);
        keys.extend(FAULT_KINDS);
        keys
    }

    fn check_key(&self, key: &str, kind_seen: Option<&str>) -> Result<(), String> {
        if !self.allowed_keys().contains(&key) {
            return Err(format!(
                "unknown key `{key}` in a fault; allowed keys are {}",
                list(&self.allowed_keys())
            ));
        }
        match kind_seen {
            Some(first) if FAULT_KINDS.contains(&key) => Err(format!(
                "this fault has two kinds, `{first}` and `{key}`; a fault takes exactly one \
                 of {}",
                list(FAULT_KINDS)
            )),
            _ => Ok(()),
        }
    }
}

impl<'de> Visitor<'de> for FaultVisitor {
    type Value = (Option<Ref>, FaultRule);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a fault table with keys among {}",
            list(&self.allowed_keys())
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut account = None;
        let mut from = None;
        let mut times = None;
        let mut kind: Option<(&'static str, WorldFault)> = None;
        loop {
            let kind_seen = kind.map(|(key, _)| key);
            let seed = KeySeed(&|key: &str| self.check_key(key, kind_seen));
            let Some(key) = map.next_key_seed(seed)? else {
                break;
            };
            let new_kind = match key.as_str() {
                "account" => {
                    account = Some(map.next_value()?);
                    continue;
                }
                "from" => {
                    from = Some(map.next_value()?);
                    continue;
                }
                "times" => {
                    times = Some(map.next_value_seed(Checked(at_least_once))?);
                    continue;
                }
                "down" => ("down", read_true(&mut map, WorldFault::Down)?),
                "hang" => ("hang", read_true(&mut map, WorldFault::Hang)?),
                "reset" => ("reset", read_true(&mut map, WorldFault::Reset)?),
                "redirect_loop" => (
                    "redirect_loop",
                    read_true(&mut map, WorldFault::RedirectLoop)?,
                ),
                "latency_ms" => (
                    "latency_ms",
                    WorldFault::Latency(std::time::Duration::from_millis(map.next_value()?)),
                ),
                "status" => (
                    "status",
                    WorldFault::Status(map.next_value_seed(Checked(error_status))?),
                ),
                "retry_after" => (
                    "retry_after",
                    WorldFault::RetryAfter(map.next_value_seed(Checked(retry_after))?),
                ),
                _ => ("crash", WorldFault::Crash(map.next_value()?)),
            };
            kind = Some(new_kind);
        }
        if self.in_step && account.is_none() {
            return Err(de::Error::missing_field("account"));
        }
        let Some((_, fault)) = kind else {
            return Err(de::Error::custom(
                "this fault has no kind; give exactly one of `down = true`, `hang = true`, \
                 `reset = true`, `redirect_loop = true`, `latency_ms = <ms>`, \
                 `status = <400..599>`, `retry_after = <seconds>` or \
                 `crash = \"before_store\"|\"after_store\"`",
            ));
        };
        Ok((account, FaultRule { from, times, fault }))
    }
}

/// Reads a fault kind written as `<kind> = true`; `false` would be a fault that is not one.
fn read_true<'de, A: MapAccess<'de>>(
    map: &mut A,
    fault: WorldFault,
) -> Result<WorldFault, A::Error> {
    map.next_value_seed(Checked(|on: &bool| {
        if *on {
            Ok(())
        } else {
            Err("this fault kind only takes `true`; remove the key (or use `heal`) to have no fault".to_owned())
        }
    }))?;
    Ok(fault)
}

fn at_least_once(times: &u32) -> Result<(), String> {
    if *times == 0 {
        Err(
            "`times = 0` would never fault; use at least 1, or omit it to fault every call"
                .to_owned(),
        )
    } else {
        Ok(())
    }
}

fn error_status(status: &u16) -> Result<(), String> {
    crate::core::faults::check_fault_status(*status)
}

fn retry_after(seconds: &u32) -> Result<(), String> {
    crate::core::faults::check_retry_after(*seconds)
}

/// The schema of a fault table: one branch per kind, each with the shared keys.
fn fault_schema(generator: &mut SchemaGenerator, in_step: bool) -> Schema {
    let reference = generator.subschema_for::<String>().to_value();
    let times = json!({ "type": "integer", "minimum": 1 });
    let kinds: [(&str, Value); 8] = [
        ("down", json!({ "const": true })),
        ("hang", json!({ "const": true })),
        ("reset", json!({ "const": true })),
        ("redirect_loop", json!({ "const": true })),
        ("latency_ms", json!({ "type": "integer", "minimum": 0 })),
        (
            "status",
            json!({
                "type": "integer",
                "minimum": crate::core::faults::FAULT_STATUSES.start(),
                "maximum": crate::core::faults::FAULT_STATUSES.end(),
                "description": "The error status every answer gets, from 400 to 599."
            }),
        ),
        (
            "retry_after",
            json!({
                "type": "integer",
                "minimum": 0,
                "maximum": crate::core::faults::MAX_FAULT_RETRY_AFTER,
                "description": "Every answer is 429 Too Many Requests with this Retry-After, in seconds."
            }),
        ),
        ("crash", generator.subschema_for::<CrashPoint>().to_value()),
    ];
    let branches: Vec<Value> = kinds
        .into_iter()
        .map(|(kind, schema)| {
            let mut properties = Map::new();
            let mut required = vec![json!(kind)];
            if in_step {
                properties.insert("account".into(), reference.clone());
                required.push(json!("account"));
            }
            properties.insert("from".into(), reference.clone());
            properties.insert("times".into(), times.clone());
            properties.insert(kind.into(), schema);
            json!({
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            })
        })
        .collect();
    json_schema!({ "oneOf": branches })
}

pub(super) fn account_fault_schema(generator: &mut SchemaGenerator) -> Schema {
    let rule = generator.subschema_for::<FaultRule>().to_value();
    json_schema!({ "anyOf": [rule, { "type": "null" }] })
}

impl JsonSchema for Fault {
    fn schema_name() -> Cow<'static, str> {
        "Fault".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        fault_schema(generator, true)
    }
}

impl JsonSchema for FaultRule {
    fn schema_name() -> Cow<'static, str> {
        "FaultRule".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        fault_schema(generator, false)
    }
}
