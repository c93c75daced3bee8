//! Custom ticket fields: each account defines its own (title, data type, options), and
//! a value synced from a partner lands in the receiver's field with the same title and
//! the same type, as Zendesk matches them. With no such field the value is dropped,
//! and [`Dropped`] says why so the trace can.
//!
//! Pure data and rules: the account layer stores the definitions, the REST API and the
//! partner protocol ask what a value means here.

use crate::core::spelling::Spelled;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The data types of Zendesk's custom ticket fields that sharesim models.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::Display,
)]
#[serde(into = "&'static str")]
#[strum(serialize_all = "snake_case")]
pub enum FieldType {
    /// One line of text.
    Text,
    /// Several lines of text.
    Textarea,
    /// true or false.
    Checkbox,
    /// A day, `YYYY-MM-DD`.
    Date,
    /// A whole number.
    Integer,
    /// A number.
    Decimal,
    /// Text that matches the field's pattern (sharesim does not check the pattern).
    Regexp,
    /// A drop-down: one of the field's option values.
    Tagger,
    /// Several of the field's option values.
    Multiselect,
}

impl FieldType {
    /// The one spelling (REST `type`, wire, scenario files).
    pub fn as_str(self) -> &'static str {
        self.spelling()
    }

    /// `a text field`, `an integer field`: the type in a sentence.
    pub fn described(self) -> String {
        let article = if self == FieldType::Integer {
            "an"
        } else {
            "a"
        };
        format!("{article} {self} field")
    }

    /// Whether a value of this type names options (drop-downs and multi-selects).
    pub fn has_options(self) -> bool {
        matches!(self, FieldType::Tagger | FieldType::Multiselect)
    }
}

impl std::str::FromStr for FieldType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldType::from_spelling(s).ok_or_else(|| {
            format!(
                "{s:?} is not a ticket field type; expected one of {}",
                FieldType::spelled_list()
            )
        })
    }
}

impl schemars::JsonSchema for FieldType {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FieldType".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "enum": FieldType::spellings() })
    }
}

impl<'de> Deserialize<'de> for FieldType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One custom ticket field of one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketField {
    /// The account-local id (REST `id`, what `custom_fields[].id` names).
    pub id: u64,
    /// The title partners match on.
    pub title: String,
    /// The data type partners match on.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// The allowed values of a drop-down or multi-select (empty: any value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl TicketField {
    /// Checks `value` against the field's type and options; null clears a field.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        if value.is_null() {
            return Ok(());
        }
        let title = &self.title;
        let fits = match self.field_type {
            FieldType::Text | FieldType::Textarea | FieldType::Regexp => value.is_string(),
            FieldType::Checkbox => value.is_boolean(),
            FieldType::Integer => value.is_i64() || value.is_u64(),
            FieldType::Decimal => value.is_number(),
            FieldType::Date => value
                .as_str()
                .is_some_and(|text| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()),
            FieldType::Tagger => value.as_str().is_some_and(|v| self.offers(v)),
            FieldType::Multiselect => value.as_array().is_some_and(|items| {
                items
                    .iter()
                    .all(|item| item.as_str().is_some_and(|v| self.offers(v)))
            }),
        };
        if fits {
            return Ok(());
        }
        let expected = match self.field_type {
            FieldType::Text | FieldType::Textarea | FieldType::Regexp => "a string".to_string(),
            FieldType::Checkbox => "true or false".to_string(),
            FieldType::Integer => "a whole number".to_string(),
            FieldType::Decimal => "a number".to_string(),
            FieldType::Date => "a date written YYYY-MM-DD".to_string(),
            FieldType::Tagger if self.options.is_empty() => "a string".to_string(),
            FieldType::Tagger => format!("one of {}", self.options.join(", ")),
            FieldType::Multiselect if self.options.is_empty() => "an array of strings".to_string(),
            FieldType::Multiselect => {
                format!("an array of values among {}", self.options.join(", "))
            }
        };
        Err(format!(
            "{title} is {}: its value must be {expected}, not {value}",
            self.field_type.described()
        ))
    }

    fn offers(&self, value: &str) -> bool {
        self.options.is_empty() || self.options.iter().any(|option| option == value)
    }
}

/// A field an account is asked to make: through `POST /ticket_fields`, or declared
/// with the account (a scenario's `ticket_fields`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDefinition {
    /// The id it must get; the account's next one when None.
    pub id: Option<u64>,
    /// The title.
    pub title: String,
    /// The data type.
    pub field_type: FieldType,
    /// Allowed values of a drop-down or multi-select.
    pub options: Vec<String>,
}

/// A field definition's own mistakes, before it is stored.
pub fn check_definition(
    fields: &[TicketField],
    definition: &FieldDefinition,
) -> Result<(), String> {
    let FieldDefinition {
        id,
        title,
        field_type,
        options,
    } = definition;
    let field_type = *field_type;
    if title.trim().is_empty() {
        return Err("Title: cannot be blank".to_string());
    }
    if let Some(id) = id
        && (*id == 0 || fields.iter().any(|field| field.id == *id))
    {
        return Err(format!("Id: {id} is taken or not a valid id"));
    }
    if fields.iter().any(|field| field.title == *title) {
        return Err(format!(
            "Title: a ticket field titled {title:?} already exists; partners match fields by title, so titles are unique"
        ));
    }
    if !options.is_empty() && !field_type.has_options() {
        return Err(format!(
            "Custom field options: only tagger and multiselect fields have options, not {field_type}"
        ));
    }
    Ok(())
}

/// A custom field value as it travels between accounts: the sender's title and type,
/// which the receiver matches, and the value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncedValue {
    /// The sender's field title.
    pub title: String,
    /// The sender's field type; None when the sender did not say (the value must
    /// then fit the receiver's type).
    pub field_type: Option<FieldType>,
    /// The value.
    pub value: Value,
}

/// Why a synced value did not land in any of the receiver's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// The receiver has no field with that title.
    NoSuchTitle {
        /// The sender's title.
        title: String,
    },
    /// The receiver's field with that title has another type.
    OtherType {
        /// The title both share.
        title: String,
        /// The sender's type.
        sent: FieldType,
        /// The receiver's type.
        held: FieldType,
    },
    /// The value does not fit the receiver's field.
    Unfit {
        /// The title.
        title: String,
        /// What is wrong.
        why: String,
    },
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dropped::NoSuchTitle { title } => {
                write!(
                    f,
                    "dropped custom field {title:?}: no ticket field has that title here"
                )
            }
            Dropped::OtherType { title, sent, held } => write!(
                f,
                "dropped custom field {title:?}: it is {} on the sender but {} here; fields match by title and type",
                sent.described(),
                held.described()
            ),
            Dropped::Unfit { title, why } => {
                write!(f, "dropped custom field {title:?}: {why}")
            }
        }
    }
}

/// Where each synced value lands (field id → value), and what was dropped and why.
pub fn match_synced(
    fields: &[TicketField],
    values: &[SyncedValue],
) -> (BTreeMap<u64, Value>, Vec<Dropped>) {
    let mut landed = BTreeMap::new();
    let mut dropped = Vec::new();
    for synced in values {
        let title = synced.title.clone();
        let Some(field) = fields.iter().find(|field| field.title == synced.title) else {
            dropped.push(Dropped::NoSuchTitle { title });
            continue;
        };
        if let Some(sent) = synced.field_type
            && sent != field.field_type
        {
            dropped.push(Dropped::OtherType {
                title,
                sent,
                held: field.field_type,
            });
            continue;
        }
        match field.check(&synced.value) {
            Ok(()) => {
                landed.insert(field.id, synced.value.clone());
            }
            Err(why) => dropped.push(Dropped::Unfit { title, why }),
        }
    }
    (landed, dropped)
}

/// The values a ticket holds, as they travel: titled and typed by this account's
/// fields. A value whose field no longer exists does not travel.
pub fn synced_values(fields: &[TicketField], values: &BTreeMap<u64, Value>) -> Vec<SyncedValue> {
    values
        .iter()
        .filter_map(|(id, value)| {
            fields
                .iter()
                .find(|field| field.id == *id)
                .map(|field| SyncedValue {
                    title: field.title.clone(),
                    field_type: Some(field.field_type),
                    value: value.clone(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use strum::VariantArray;

    fn field(id: u64, title: &str, field_type: FieldType) -> TicketField {
        TicketField {
            id,
            title: title.to_string(),
            field_type,
            options: Vec::new(),
        }
    }

    /// Every type against a value of every kind: only the matching kind fits.
    #[test]
    fn each_type_takes_only_its_kind_of_value() {
        let values = [
            json!("text"),
            json!(true),
            json!(12),
            json!(1.5),
            json!("2026-01-31"),
            json!(["a", "b"]),
        ];
        for field_type in FieldType::VARIANTS.iter().copied() {
            let f = field(1, "F", field_type);
            let fits: Vec<bool> = values.iter().map(|v| f.check(v).is_ok()).collect();
            let expected = match field_type {
                FieldType::Text | FieldType::Textarea | FieldType::Regexp | FieldType::Tagger => {
                    [true, false, false, false, true, false]
                }
                FieldType::Checkbox => [false, true, false, false, false, false],
                FieldType::Integer => [false, false, true, false, false, false],
                FieldType::Decimal => [false, false, true, true, false, false],
                FieldType::Date => [false, false, false, false, true, false],
                FieldType::Multiselect => [false, false, false, false, false, true],
            };
            assert_eq!(fits, expected, "{field_type}");
            assert!(f.check(&Value::Null).is_ok(), "null clears a {field_type}");
        }
    }

    #[test]
    fn options_bound_drop_downs() {
        let mut product = field(4, "Product", FieldType::Tagger);
        product.options = vec!["printer".into(), "scanner".into()];
        assert!(product.check(&json!("printer")).is_ok());
        assert_eq!(
            product.check(&json!("toaster")).unwrap_err(),
            "Product is a tagger field: its value must be one of printer, scanner, not \"toaster\""
        );
        let define = |id: Option<u64>, title: &str, field_type, options: &[&str]| FieldDefinition {
            id,
            title: title.to_string(),
            field_type,
            options: options.iter().map(ToString::to_string).collect(),
        };
        let held = [product];
        assert!(check_definition(&held, &define(None, "Serial", FieldType::Text, &[])).is_ok());
        for wrong in [
            define(None, "Serial", FieldType::Text, &["a"]),
            define(None, "Product", FieldType::Text, &[]),
            define(None, " ", FieldType::Text, &[]),
            define(Some(4), "Serial", FieldType::Text, &[]),
            define(Some(0), "Serial", FieldType::Text, &[]),
        ] {
            assert!(check_definition(&held, &wrong).is_err(), "{wrong:?}");
        }
    }

    /// Title and type both decide; a value that does not fit is dropped too.
    #[test]
    fn synced_values_land_by_title_and_type_or_are_dropped_with_a_reason() {
        let here = [
            field(10, "Serial", FieldType::Text),
            field(11, "Urgent", FieldType::Checkbox),
            field(12, "Seats", FieldType::Integer),
        ];
        let sent = |title: &str, field_type: Option<FieldType>, value: Value| SyncedValue {
            title: title.to_string(),
            field_type,
            value,
        };
        let (landed, dropped) = match_synced(
            &here,
            &[
                sent("Serial", Some(FieldType::Text), json!("X-1")),
                sent("Urgent", Some(FieldType::Text), json!("yes")),
                sent("Colour", Some(FieldType::Text), json!("red")),
                sent("Seats", None, json!(4)),
                sent("Seats", None, json!("four")),
            ],
        );
        assert_eq!(landed, BTreeMap::from([(10, json!("X-1")), (12, json!(4))]));
        let reasons: Vec<String> = dropped.iter().map(ToString::to_string).collect();
        assert_eq!(
            reasons,
            [
                "dropped custom field \"Urgent\": it is a text field on the sender but a checkbox field here; fields match by title and type",
                "dropped custom field \"Colour\": no ticket field has that title here",
                "dropped custom field \"Seats\": Seats is an integer field: its value must be a whole number, not \"four\"",
            ]
        );
        // Going out, values are titled and typed by the sender's own fields.
        let out = synced_values(&here, &BTreeMap::from([(10, json!("X-1")), (99, json!(1))]));
        assert_eq!(
            out,
            [sent("Serial", Some(FieldType::Text), json!("X-1"))],
            "a value whose field is gone does not travel"
        );
    }
}
