//! `sharesim conform`'s report: console text (one line per check, what was sent, what
//! came back and why that is wrong for each failure), one JSON document, or JUnit XML
//! with one testcase per check.

use crate::drivers::conform::{Check, Report};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use std::fmt::Write as _;

/// The console report.
pub(crate) fn human(report: &Report) -> String {
    let mut out = format!(
        "sharesim conform {} (sharesim plays {} at {})\n",
        report.endpoint, report.subdomain, report.sharesim_url
    );
    let mut family = "";
    for check in &report.checks {
        if check.family != family {
            family = check.family;
            let _ = writeln!(out, "\n{family}");
        }
        let mark = if check.skipped {
            "SKIP"
        } else if check.passed {
            "PASS"
        } else {
            "FAIL"
        };
        let _ = write!(out, "  {mark}  {}", check.name);
        if check.skipped {
            let _ = write!(out, ": {}", check.reason);
        }
        out.push('\n');
        if !check.passed && !check.skipped {
            for (label, text) in [
                ("sent", &check.sent),
                ("received", &check.received),
                ("why", &check.reason),
            ] {
                let _ = writeln!(out, "        {label:<9} {text}");
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} checks: {} passed, {} failed, {} skipped",
        report.checks.len(),
        report.passed,
        report.failed,
        report.skipped
    );
    out
}

/// The JSON document: `{endpoint, as, sharesim_url, checks: [{name, family, passed,
/// skipped, reason, sent, received}], passed, failed, skipped}`.
pub(crate) fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default() + "\n"
}

/// JUnit XML: one testsuite per family, one testcase per check.
pub(crate) fn junit(report: &Report) -> std::io::Result<String> {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let tests = report.checks.len().to_string();
    let failures = report.failed.to_string();
    let skipped = report.skipped.to_string();
    writer
        .create_element("testsuites")
        .with_attribute(("name", "sharesim conform"))
        .with_attribute(("tests", tests.as_str()))
        .with_attribute(("failures", failures.as_str()))
        .with_attribute(("skipped", skipped.as_str()))
        .write_inner_content(|writer| {
            for family in crate::drivers::conform::FAMILIES {
                let checks: Vec<&Check> = report
                    .checks
                    .iter()
                    .filter(|c| c.family == family)
                    .collect();
                if checks.is_empty() {
                    continue;
                }
                let count =
                    |f: fn(&Check) -> bool| checks.iter().filter(|c| f(c)).count().to_string();
                writer
                    .create_element("testsuite")
                    .with_attribute(("name", family))
                    .with_attribute(("tests", checks.len().to_string().as_str()))
                    .with_attribute(("failures", count(|c| !c.passed && !c.skipped).as_str()))
                    .with_attribute(("skipped", count(|c| c.skipped).as_str()))
                    .with_attribute(("errors", "0"))
                    .write_inner_content(|writer| {
                        for check in checks {
                            write_case(writer, check)?;
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        })?;
    Ok(String::from_utf8_lossy(&writer.into_inner()).into_owned() + "\n")
}

fn write_case(writer: &mut Writer<Vec<u8>>, check: &Check) -> std::io::Result<()> {
    let case = writer
        .create_element("testcase")
        .with_attribute(("name", check.name))
        .with_attribute(("classname", format!("conform.{}", check.family).as_str()));
    if check.passed {
        case.write_empty()?;
    } else if check.skipped {
        case.write_inner_content(|writer| {
            writer
                .create_element("skipped")
                .with_attribute(("message", check.reason.as_str()))
                .write_empty()?;
            Ok(())
        })?;
    } else {
        let body = format!("sent: {}\nreceived: {}", check.sent, check.received);
        case.write_inner_content(|writer| {
            writer
                .create_element("failure")
                .with_attribute(("message", check.reason.as_str()))
                .with_attribute(("type", "NonConformance"))
                .write_text_content(BytesText::new(&body))?;
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let checks = vec![
            Check {
                name: "invitation.new",
                family: "invitations",
                passed: true,
                skipped: false,
                reason: String::new(),
                sent: "POST …".into(),
                received: "201".into(),
            },
            Check {
                name: "token.missing",
                family: "tokens",
                passed: false,
                skipped: false,
                reason: "a 401 must carry `WWW-Authenticate: X-Ticket-Sharing`".into(),
                sent: "PUT … without X-Ticket-Sharing-Token".into(),
                received: "401, no www-authenticate header".into(),
            },
            Check {
                name: "time.format",
                family: "time",
                passed: false,
                skipped: true,
                reason: "the endpoint sent no time".into(),
                sent: String::new(),
                received: String::new(),
            },
        ];
        Report {
            endpoint: "http://127.0.0.1:9000/sharing".into(),
            subdomain: "conform".into(),
            sharesim_url: "http://127.0.0.1:40000/sharing".into(),
            passed: 1,
            failed: 1,
            skipped: 1,
            checks,
        }
    }

    #[test]
    fn the_console_says_what_was_sent_what_came_back_and_why() {
        let text = human(&report());
        assert!(text.contains("  PASS  invitation.new\n"), "{text}");
        assert!(
            text.contains("  FAIL  token.missing\n        sent      PUT … without"),
            "{text}"
        );
        assert!(
            text.contains("        why       a 401 must carry"),
            "{text}"
        );
        assert!(
            text.contains("  SKIP  time.format: the endpoint sent no time"),
            "{text}"
        );
        assert!(
            text.ends_with("3 checks: 1 passed, 1 failed, 1 skipped\n"),
            "{text}"
        );
    }

    #[test]
    fn json_and_junit_carry_every_check() {
        let value: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(value["checks"][1]["name"], "token.missing");
        assert_eq!(value["checks"][1]["passed"], false);
        assert_eq!(value["checks"][2]["skipped"], true);
        assert_eq!(value["as"], "conform");
        let xml = junit(&report()).unwrap();
        assert!(
            xml.contains(r#"<testcase name="token.missing" classname="conform.tokens">"#),
            "{xml}"
        );
        assert!(xml.contains(r#"<failure message="a 401 must carry `WWW-Authenticate: X-Ticket-Sharing`" type="NonConformance">"#), "{xml}");
        assert!(
            xml.contains(r#"<skipped message="the endpoint sent no time"/>"#),
            "{xml}"
        );
    }
}
