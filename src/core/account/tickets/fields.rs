//! An account's custom ticket fields: made through the REST API or declared with the
//! account, and the check every value written to a ticket passes.

use super::{TicketError, invalid};
use crate::core::account::Account;
use crate::core::model::ticket::fields::{FieldDefinition, TicketField, check_definition};
use serde_json::Value;
use std::collections::BTreeMap;

impl Account {
    /// The account's custom ticket fields, in the order they were made.
    pub fn ticket_fields(&self) -> Vec<TicketField> {
        self.with_state(|state| state.tickets().fields().to_vec())
    }

    /// Makes a custom ticket field (admins, `POST /ticket_fields`, or a scenario's
    /// `ticket_fields`); titles are unique, since partners match fields by title.
    pub fn add_ticket_field(
        &self,
        definition: FieldDefinition,
    ) -> Result<TicketField, TicketError> {
        let made = self.with_state(|state| {
            let (book, _) = state.tickets_mut();
            check_definition(book.fields(), &definition)
                .map_err(|description| invalid("ticket_field", description))?;
            let field = TicketField {
                id: 0,
                title: definition.title.clone(),
                field_type: definition.field_type,
                options: definition.options.clone(),
            };
            Ok(book.add_field(field, definition.id))
        })?;
        self.trace().decision(
            self.subdomain(),
            format!(
                "{} made ticket field {} {:?} ({})",
                self.subdomain(),
                made.id,
                made.title,
                made.field_type
            ),
        );
        Ok(made)
    }
}

/// Checks REST `custom_fields` values against the account's fields: each id must be
/// one of them and each value fit its type.
pub(super) fn check_values(
    fields: &[TicketField],
    values: &BTreeMap<u64, Value>,
) -> Result<(), TicketError> {
    for (id, value) in values {
        let field = fields.iter().find(|field| field.id == *id).ok_or_else(|| {
            let known: Vec<String> = fields
                .iter()
                .map(|f| format!("{} ({:?})", f.id, f.title))
                .collect();
            invalid(
                "custom_fields",
                if known.is_empty() {
                    format!(
                        "Custom fields: no ticket field has id {id}; this account has no custom fields (make one with POST /api/v2/ticket_fields)"
                    )
                } else {
                    format!(
                        "Custom fields: no ticket field has id {id}; the fields are {}",
                        known.join(", ")
                    )
                },
            )
        })?;
        field
            .check(value)
            .map_err(|why| invalid("custom_fields", format!("Custom fields: {why}")))?;
    }
    Ok(())
}
