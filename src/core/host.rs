//! The `Host` check of both APIs: a web page that rebinds its own name to 127.0.0.1
//! (DNS rebinding) reaches a loopback port, but its requests still carry its own name.
//! Only loopback names, the bound address and the world's own host names are served.

/// Whether `host` (a `Host` header or `:authority`, with or without a port) names
/// loopback (`localhost`, `*.localhost`, `127.0.0.1`, `[::1]`), `bound` (the address
/// listened on), or one of `also` (names ending with one of them). Checked on every
/// request, so the common spelling (already lower case) allocates nothing.
pub(crate) fn is_allowed(host: &str, bound: Option<&str>, also: &[impl AsRef<str>]) -> bool {
    let name = without_port(host.trim());
    let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    };
    let name = name.trim_end_matches('.');
    if name.is_empty() {
        return false;
    }
    let unbracketed = name.trim_start_matches('[').trim_end_matches(']');
    // The names first and the address parse last: every request is checked, and most
    // name an account (`acme.localhost`), which no address parse would accept.
    name == "localhost"
        || name.ends_with(".localhost")
        || bound.is_some_and(|bound| unbracketed.eq_ignore_ascii_case(bound))
        || also.iter().any(|suffix| {
            let suffix = suffix.as_ref();
            name == suffix
                || (name.len() > suffix.len()
                    && name.ends_with(suffix)
                    && name.as_bytes()[name.len() - suffix.len() - 1] == b'.')
        })
        || unbracketed
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `example:8080` → `example`, `[::1]:80` → `[::1]`, `::1` → `::1`.
fn without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::is_allowed;

    #[test]
    fn loopback_names_and_the_bound_address_pass_and_other_names_do_not() {
        for host in [
            "127.0.0.1:8700",
            "127.0.0.1",
            "localhost:1",
            "LOCALHOST",
            "acme.localhost:9",
            "[::1]:8700",
            "::1",
            "127.0.0.2",
        ] {
            assert!(is_allowed(host, None, &[] as &[&str]), "{host}");
        }
        assert!(is_allowed("10.1.2.3:80", Some("10.1.2.3"), &[] as &[&str]));
        assert!(is_allowed("Acme.Sharesim.Test.", None, &["sharesim.test"]));
        assert!(!is_allowed("acme.sharesim.test", None, &["Sharesim.test"]));
        assert!(!is_allowed("xsharesim.test", None, &["sharesim.test"]));
        assert!(is_allowed("acme.sharesim.test", None, &["sharesim.test"]));
        for host in [
            "evil.example:8700",
            "evil.example",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "",
            "10.1.2.3",
            "sharesim.test.evil.example",
        ] {
            assert!(!is_allowed(host, None, &["sharesim.test"]), "{host}");
        }
    }
}
