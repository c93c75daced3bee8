//! One spelling per enum value. A status, a certificate mode or a crash point is named
//! once, by `#[strum(serialize_all = "snake_case")]` on the domain enum; scenario files,
//! the wire, the trace, reports and error messages all read that spelling through
//! [`Spelled`], so no second list of names can drift from the first.

use strum::VariantArray;

/// An enum whose values have one spelling each (derive `strum::IntoStaticStr` and
/// `strum::VariantArray`); everything else is given.
pub(crate) trait Spelled: VariantArray + Copy + Into<&'static str> + 'static {
    /// The value's one spelling.
    fn spelling(self) -> &'static str {
        self.into()
    }

    /// The value spelled `text`, if any.
    fn from_spelling(text: &str) -> Option<Self> {
        Self::VARIANTS
            .iter()
            .copied()
            .find(|v| v.spelling() == text)
    }

    /// Every spelling, in declaration order.
    fn spellings() -> Vec<&'static str> {
        Self::VARIANTS.iter().map(|v| v.spelling()).collect()
    }

    /// Every spelling joined by `, `, for messages that say what is allowed.
    fn spelled_list() -> String {
        Self::spellings().join(", ")
    }
}

impl<T: VariantArray + Copy + Into<&'static str> + 'static> Spelled for T {}

#[cfg(test)]
mod tests {
    use super::Spelled;
    use crate::core::faults::CrashPoint;
    use crate::core::model::ticket::TicketStatus;
    use crate::core::model::{AgreementStatus, Direction};
    use crate::core::tls::CertMode;
    use crate::core::trace::EventKind;

    /// Every spelling round-trips, is snake_case, and is what serde writes.
    fn check<T: Spelled + serde::Serialize + std::fmt::Display + std::fmt::Debug + PartialEq>(
        expected: &[&str],
    ) {
        assert_eq!(T::spellings(), expected);
        for value in T::VARIANTS {
            let text = value.spelling();
            assert_eq!(T::from_spelling(text), Some(*value));
            assert_eq!(value.to_string(), text);
            assert_eq!(serde_json::to_value(value).unwrap(), text);
        }
        assert_eq!(T::from_spelling("Nope"), None);
    }

    #[test]
    fn each_domain_enum_has_one_spelling_per_value() {
        check::<AgreementStatus>(&[
            "pending",
            "accepted",
            "declined",
            "inactive",
            "failed",
            "ssl_error",
            "configuration_error",
        ]);
        check::<Direction>(&["inbound", "outbound"]);
        check::<TicketStatus>(&["new", "open", "pending", "hold", "solved", "closed"]);
        check::<CertMode>(&[
            "valid",
            "self_signed",
            "expired",
            "not_yet_valid",
            "wrong_host",
            "untrusted_ca",
            "plain_http",
        ]);
        check::<CrashPoint>(&["before_store", "after_store"]);
        check::<EventKind>(&["request", "response", "decision", "world", "note"]);
    }
}
