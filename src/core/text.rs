//! Shared, immutable text: an account's name, a caller, a method, a path or a second's
//! timestamp is allocated once and shared by every trace event that names it, and an
//! agreement's uuid, URLs and key by every copy of the agreement that is handed out, so
//! copying either copies none of their strings and dropping one frees little.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Text shared by the events that name it; reads as a `&str` and serialises as a string,
/// so every report and journal line is as it was with owned strings.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(Arc<str>);

impl Text {
    /// The text as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Text {
        Text(Arc::from(text))
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text(Arc::from(text))
    }
}

impl From<&String> for Text {
    fn from(text: &String) -> Text {
        Text(Arc::from(text.as_str()))
    }
}

impl From<Arc<str>> for Text {
    fn from(text: Arc<str>) -> Text {
        Text(text)
    }
}

impl From<Text> for String {
    fn from(text: Text) -> String {
        text.0.to_string()
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        String::deserialize(deserializer).map(Text::from)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        *self == *other.0
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        **self == *other.0
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        **self == *other.0
    }
}

/// An HTTP method as events name it: the common ones shared, never allocated per call.
pub fn method_text(method: &axum::http::Method) -> Text {
    use axum::http::Method;
    static COMMON: std::sync::LazyLock<[(Method, Text); 5]> = std::sync::LazyLock::new(|| {
        [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ]
        .map(|method| {
            let text = Text::from(method.as_str());
            (method, text)
        })
    });
    COMMON
        .iter()
        .find(|(common, _)| common == method)
        .map_or_else(|| Text::from(method.as_str()), |(_, text)| text.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_text_compares_and_serialises_as_its_string() {
        let text = Text::from("acme");
        let copy = text.clone();
        assert!(Arc::ptr_eq(&text.0, &copy.0), "a clone shares, not copies");
        assert_eq!(text, "acme");
        assert_eq!("acme".to_string(), text);
        assert_ne!(text, "globex");
        assert_eq!(serde_json::to_string(&text).unwrap(), "\"acme\"");
        assert_eq!(format!("{text} {text:?}"), "acme \"acme\"");
    }

    #[test]
    fn common_methods_are_shared_and_others_spelled_out() {
        use axum::http::Method;
        let (one, two) = (method_text(&Method::GET), method_text(&Method::GET));
        assert!(Arc::ptr_eq(&one.0, &two.0), "GET is one shared text");
        assert_eq!(one, "GET");
        assert_eq!(method_text(&Method::OPTIONS), "OPTIONS");
    }
}
