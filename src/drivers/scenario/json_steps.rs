//! Scenario steps written as JSON (the control API of `serve`, `sharesim ctl step`):
//! the same step types and checks as a TOML file, so one language serves both. Every
//! refusal names the step's index in the array and the field path inside it.
//!
//! Steps keep byte spans of their references (`Ref`) for TOML; JSON has none, so each
//! reference is given a span that numbers it, and that number leads back to its path.

use super::format::Step;
use super::parse::{check_live_steps, reword};
use super::run::Session;
use serde::Serialize;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;
use std::cell::RefCell;
use std::ops::Range;

/// The struct name `toml::Spanned` asks a deserializer for (serde_spanned's protocol).
const SPANNED: &str = "$__serde_spanned_private_Spanned";

/// Why an array of JSON steps was refused: which step and which field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", self.describe())]
pub(crate) struct StepError {
    /// Index of the offending step in the array, from 0 (None: the body is not an array).
    pub step: Option<usize>,
    /// Path of the offending field inside the step (`invite.to`), empty for the step itself.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl StepError {
    fn describe(&self) -> String {
        match (self.step, self.field.is_empty()) {
            (Some(step), false) => format!("step {step}, field `{}`: {}", self.field, self.message),
            (Some(step), true) => format!("step {step}: {}", self.message),
            (None, _) => self.message.clone(),
        }
    }
}

/// Reads a JSON array of steps and checks it against the world's accounts and the
/// handles `session` knows, before any of them runs.
pub(crate) fn parse_steps(
    value: &Value,
    accounts: &[String],
    externals: &[String],
    session: &Session,
) -> Result<Vec<Step>, StepError> {
    let Value::Array(items) = value else {
        return Err(StepError {
            step: None,
            field: String::new(),
            message: "the body must be a JSON array of steps, e.g. \
                      [{\"certificate\": {\"account\": \"globex\", \"mode\": \"expired\"}}]"
                .to_string(),
        });
    };
    // Paths of every reference, indexed by the span each was given.
    let refs: RefCell<Vec<(usize, String)>> = RefCell::new(Vec::new());
    let mut steps = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let node = Node {
            value: item,
            path: String::new(),
            step: index,
            refs: &refs,
        };
        let step: Step = serde_path_to_error::deserialize(node).map_err(|error| StepError {
            step: Some(index),
            field: render_path(error.path()),
            message: reword(&error.inner().to_string()),
        })?;
        steps.push(step);
    }
    let refs = refs.into_inner();
    let place = |span: &Range<usize>| match refs.get(span.start) {
        Some((step, _)) => format!("step {step}"),
        None => "an earlier call".to_string(),
    };
    check_live_steps(
        accounts,
        externals,
        &session.agreement_links(),
        &session.ticket_names(),
        &steps,
        &place,
    )
    .map_err(|(span, message)| match refs.get(span.start) {
        Some((step, path)) => StepError {
            step: Some(*step),
            field: path.clone(),
            message,
        },
        // A span that numbers no reference is a whole step's (an empty range at the
        // step's index, see `Node`).
        None => StepError {
            step: steps.iter().position(|s| s.span == span),
            field: String::new(),
            message,
        },
    })?;
    Ok(steps)
}

/// The path serde_path_to_error tracked, without the spanned wrapper's private keys.
fn render_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } if key.starts_with("$__serde_spanned") => {}
            serde_path_to_error::Segment::Map { key }
            | serde_path_to_error::Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    out
}

/// A JSON value being deserialized, with its path and the table its references'
/// spans index into.
struct Node<'a> {
    value: &'a Value,
    path: String,
    step: usize,
    refs: &'a RefCell<Vec<(usize, String)>>,
}

impl<'a> Node<'a> {
    fn child(&self, value: &'a Value, segment: String) -> Node<'a> {
        let path = if self.path.is_empty() || segment.starts_with('[') {
            format!("{}{segment}", self.path)
        } else {
            format!("{}.{segment}", self.path)
        };
        Node {
            value,
            path,
            step: self.step,
            refs: self.refs,
        }
    }
}

type Error = serde_json::Error;

impl<'de> Deserializer<'de> for Node<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(Items {
                node: &self,
                items: items.iter().enumerate(),
            }),
            Value::Object(map) => visitor.visit_map(Entries {
                node: &self,
                entries: map.iter(),
                pending: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name != SPANNED || fields.len() != 3 {
            return self.deserialize_any(visitor);
        }
        // A step is a whole table: its span is the empty range at its index (never a
        // reference's number, which is at least start..start+1).
        let (start, end) = if self.path.is_empty() {
            (self.step, self.step)
        } else {
            let mut refs = self.refs.borrow_mut();
            refs.push((self.step, self.path.clone()));
            (refs.len() - 1, refs.len())
        };
        visitor.visit_map(SpanFields {
            fields,
            start,
            end,
            node: Some(self),
            next: 0,
        })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.value.deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

struct Items<'n, 'de> {
    node: &'n Node<'de>,
    items: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
}

impl<'de> SeqAccess<'de> for Items<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some((index, value)) => seed
                .deserialize(self.node.child(value, format!("[{index}]")))
                .map(Some),
            None => Ok(None),
        }
    }
}

struct Entries<'n, 'de> {
    node: &'n Node<'de>,
    entries: serde_json::map::Iter<'de>,
    pending: Option<(&'de String, &'de Value)>,
}

impl<'de> MapAccess<'de> for Entries<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((key, value)) => {
                self.pending = Some((key, value));
                seed.deserialize(BorrowedStrDeserializer::new(key.as_str()))
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.pending.take() {
            Some((key, value)) => seed.deserialize(self.node.child(value, key.clone())),
            None => Err(de::Error::custom("a value was asked for before its key")),
        }
    }
}

/// The three fields serde_spanned reads: start, end, then the value itself.
struct SpanFields<'de> {
    fields: &'static [&'static str],
    start: usize,
    end: usize,
    node: Option<Node<'de>>,
    next: usize,
}

impl<'de> MapAccess<'de> for SpanFields<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.fields.get(self.next) {
            Some(field) => seed
                .deserialize(BorrowedStrDeserializer::new(field))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        self.next += 1;
        match self.next {
            1 => seed.deserialize(self.start.into_deserializer()),
            2 => seed.deserialize(self.end.into_deserializer()),
            _ => match self.node.take() {
                Some(node) => seed.deserialize(node),
                None => Err(de::Error::custom("a spanned value was read twice")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::scenario::format::Action;
    use serde_json::json;

    fn accounts() -> Vec<String> {
        vec!["acme".to_string(), "globex".to_string()]
    }

    #[test]
    fn json_steps_build_the_same_tree_as_toml() {
        let steps = parse_steps(
            &json!([
                {"invite": {"from": "acme", "to": "globex", "as": "esc"}, "note": "hello"},
                {"certificate": {"account": "globex", "mode": "expired"}},
                {"fault": {"account": "globex", "status": 503, "times": 1}},
                {"expect": {"account": "acme", "agreement": "esc", "status": "pending"}},
            ]),
            &accounts(),
            &[],
            &Session::default(),
        )
        .unwrap();
        assert_eq!(steps.len(), 4);
        let Action::Invite(invite) = &steps[0].action else {
            panic!("an invite")
        };
        assert_eq!(invite.handle.get_ref(), "esc");
        assert_eq!(steps[0].note.as_deref(), Some("hello"));
        assert!(matches!(steps[1].action, Action::Certificate(_)));
    }

    #[test]
    fn a_bad_value_names_the_step_and_field() {
        let error = parse_steps(
            &json!([
                {"certificate": {"account": "globex", "mode": "expired"}},
                {"certificate": {"account": "globex", "mode": "rotten"}},
            ]),
            &accounts(),
            &[],
            &Session::default(),
        )
        .unwrap_err();
        assert_eq!(error.step, Some(1));
        assert_eq!(error.field, "certificate.mode");
        assert!(error.message.contains("`expired`"), "{}", error.message);
    }

    #[test]
    fn an_unknown_account_or_handle_names_the_step_and_field() {
        let error = parse_steps(
            &json!([{"invite": {"from": "acme", "to": "globex", "as": "esc"}},
                    {"respond": {"account": "initech", "agreement": "esc", "status": "accepted"}}]),
            &accounts(),
            &[],
            &Session::default(),
        )
        .unwrap_err();
        assert_eq!(
            (error.step, error.field.as_str()),
            (Some(1), "respond.account")
        );
        let error = parse_steps(
            &json!([{"resend": {"agreement": "nope"}}]),
            &accounts(),
            &[],
            &Session::default(),
        )
        .unwrap_err();
        assert_eq!(
            (error.step, error.field.as_str()),
            (Some(0), "resend.agreement")
        );
        assert!(
            error.message.contains("unknown agreement `nope`"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_step_with_two_actions_or_none_is_refused() {
        let error = parse_steps(
            &json!([{"stop": {"account": "acme"}, "start": {"account": "acme"}}]),
            &accounts(),
            &[],
            &Session::default(),
        )
        .unwrap_err();
        assert_eq!(error.step, Some(0));
        assert!(error.message.contains("two actions"), "{}", error.message);
        let error = parse_steps(
            &json!([{"note": "x"}]),
            &accounts(),
            &[],
            &Session::default(),
        )
        .unwrap_err();
        assert!(error.message.contains("no action"), "{}", error.message);
        let error =
            parse_steps(&json!({"stop": {}}), &accounts(), &[], &Session::default()).unwrap_err();
        assert_eq!(error.step, None);
    }
}
