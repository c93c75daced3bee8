//! Immutable text that is cheap to copy: trace events name accounts, callers, methods,
//! paths and timestamps, and every copy of an agreement handed out carries its uuid,
//! URLs, key and dates. Short text (23 bytes or fewer: a subdomain, a method, a
//! timestamp) is kept inline, so making, copying and dropping it touches no allocator
//! and no shared count; longer text is allocated once and shared by reference count;
//! constants are borrowed. Copies made on one core and dropped on the other then move
//! no cache line between them for short text, which a count shared by every event did.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smol_str::SmolStr;
use std::fmt;
use std::ops::Deref;

/// Text copied without copying its bytes (see the module's note); reads as a `&str` and
/// serialises as a string, so every report and journal line is as it was with owned
/// strings.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(SmolStr);

impl Text {
    /// A constant, borrowed: copying it costs nothing at all.
    pub const fn from_static(text: &'static str) -> Text {
        Text(SmolStr::new_static(text))
    }

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
        Text(SmolStr::new(text))
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text(SmolStr::from(text))
    }
}

impl From<&String> for Text {
    fn from(text: &String) -> Text {
        Text(SmolStr::new(text))
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

/// An HTTP method as events name it (a method is short text: never allocated).
pub fn method_text(method: &axum::http::Method) -> Text {
    Text::from(method.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_text_compares_and_serialises_as_its_string() {
        let text = Text::from("acme");
        assert!(!text.0.is_heap_allocated(), "short text is kept inline");
        let long = Text::from("http://acme.sharesim.test/sharing".to_string());
        let copy = long.clone();
        assert!(
            std::ptr::eq(long.as_str().as_ptr(), copy.as_str().as_ptr()),
            "a copy of long text shares its bytes"
        );
        assert_eq!(copy, "http://acme.sharesim.test/sharing");
        assert_eq!(text, "acme");
        assert_eq!("acme".to_string(), text);
        assert_ne!(text, "globex");
        assert_eq!(serde_json::to_string(&text).unwrap(), "\"acme\"");
        assert_eq!(format!("{text} {text:?}"), "acme \"acme\"");
    }

    #[test]
    fn methods_are_spelled_without_allocating() {
        use axum::http::Method;
        let one = method_text(&Method::GET);
        assert!(!one.0.is_heap_allocated());
        assert_eq!(one, "GET");
        assert_eq!(method_text(&Method::OPTIONS), "OPTIONS");
    }
}
