//! Words a scenario file spells from a fixed set: its own (`user`, `answer`, `method`)
//! and the domain's enums, read through their one spelling.

use super::*;

/// Declares an enum written as one of a fixed set of strings, with messages and a schema
/// that list the allowed spellings.
macro_rules! keyword_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vdoc:meta])* $variant:ident = $text:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )*
        }

        impl $name {
            /// Every spelling the file format accepts, in documentation order.
            pub const ALLOWED: &'static [&'static str] = &[$($text),*];

            /// The spelling used in scenario files and in Zendesk's JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )*
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $( $text => Ok($name::$variant), )*
                    _ => Err(format!(
                        "unknown value `{text}`; allowed values are {}",
                        list(Self::ALLOWED)
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = deserializer.deserialize_str(KeywordVisitor(Self::ALLOWED))?;
                text.parse().map_err(de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "enum": Self::ALLOWED })
            }
        }
    };
}

/// Teaches the file format an enum the domain already spells ([`Spelled`]): the
/// file reads the domain's one spelling, so the runner uses the domain type directly.
macro_rules! domain_keywords {
    ($($name:ident),* $(,)?) => {$(
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let allowed = $name::spellings();
                let text = deserializer.deserialize_str(KeywordVisitor(&allowed))?;
                $name::from_spelling(&text).ok_or_else(|| {
                    de::Error::custom(format!(
                        "unknown value `{text}`; allowed values are {}",
                        list(&allowed)
                    ))
                })
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "enum": $name::spellings() })
            }
        }
    )*};
}

/// Reads a string, describing the allowed spellings when the value is not a string.
struct KeywordVisitor<'a>(&'a [&'static str]);

impl Visitor<'_> for KeywordVisitor<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "one of {}", list(self.0))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<String, E> {
        Ok(text.to_owned())
    }
}

keyword_enum! {
    /// Which user of an account performs an action; permissions differ (only admins
    /// manage agreements).
    #[derive(Default)]
    pub enum User {
        /// An admin (the default).
        #[default]
        Admin = "admin",
        /// An agent.
        Agent = "agent",
    }
}

domain_keywords!(
    AgreementStatus,
    CertMode,
    CrashPoint,
    Direction,
    NetworkKind,
    ReleaseOrder,
    TicketStatus
);

keyword_enum! {
    /// The answer a receiver gives to an invitation.
    pub enum Answer {
        /// Accept the invitation.
        Accepted = "accepted",
        /// Decline it.
        Declined = "declined",
    }
}

keyword_enum! {
    /// The HTTP methods a raw `request` may use.
    pub enum Method {
        /// GET.
        Get = "GET",
        /// POST.
        Post = "POST",
        /// PUT.
        Put = "PUT",
        /// DELETE.
        Delete = "DELETE",
        /// PATCH.
        Patch = "PATCH",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file format reads the domain's spellings and nothing else.
    #[test]
    fn files_read_the_domain_spellings() {
        fn reads<T: Spelled + for<'de> Deserialize<'de> + PartialEq + fmt::Debug>() {
            for value in T::VARIANTS {
                let text = format!("{:?}", value.spelling());
                let parsed: T = serde_json::from_str(&text).expect("a domain spelling parses");
                assert_eq!(parsed, *value);
            }
            let refused = serde_json::from_str::<T>("\"Nope\"")
                .unwrap_err()
                .to_string();
            assert!(refused.contains(&list(&T::spellings())), "{refused}");
        }
        reads::<AgreementStatus>();
        reads::<Direction>();
        reads::<TicketStatus>();
        reads::<CertMode>();
        reads::<CrashPoint>();
    }
}
