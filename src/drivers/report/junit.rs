//! `--junit FILE`: JUnit XML, one testcase per scenario, so CI systems show scenarios
//! like tests. A failure carries the step, the message and the field diff.

use crate::drivers::scenario::outcome::Outcome;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use std::fmt::Write as _;

/// The JUnit XML document for a run.
pub(crate) fn report(outcomes: &[Outcome]) -> std::io::Result<String> {
    let failures = outcomes.iter().filter(|o| !o.passed()).count();
    let total: f64 = outcomes.iter().map(|o| o.duration.as_secs_f64()).sum();
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let tests = outcomes.len().to_string();
    let failures_text = failures.to_string();
    let time = format!("{total:.3}");
    writer
        .create_element("testsuites")
        .with_attribute(("name", "sharesim"))
        .with_attribute(("tests", tests.as_str()))
        .with_attribute(("failures", failures_text.as_str()))
        .with_attribute(("time", time.as_str()))
        .write_inner_content(|writer| {
            writer
                .create_element("testsuite")
                .with_attribute(("name", "scenarios"))
                .with_attribute(("tests", tests.as_str()))
                .with_attribute(("failures", failures_text.as_str()))
                .with_attribute(("errors", "0"))
                .with_attribute(("time", time.as_str()))
                .write_inner_content(|writer| {
                    for outcome in outcomes {
                        write_case(writer, outcome)?;
                    }
                    Ok(())
                })?;
            Ok(())
        })?;
    Ok(String::from_utf8_lossy(&writer.into_inner()).into_owned() + "\n")
}

fn write_case(writer: &mut Writer<Vec<u8>>, outcome: &Outcome) -> std::io::Result<()> {
    let time = format!("{:.3}", outcome.duration.as_secs_f64());
    let case = writer
        .create_element("testcase")
        .with_attribute(("name", outcome.name.as_str()))
        .with_attribute(("classname", outcome.file.as_str()))
        .with_attribute(("time", time.as_str()));
    let Some(failure) = &outcome.failure else {
        case.write_empty()?;
        return Ok(());
    };
    let message = format!(
        "step {} ({}) at {}: {}",
        failure.step, failure.action, failure.location, failure.message
    );
    let mut body = message.clone();
    for diff in &failure.diffs {
        let _ = write!(
            body,
            "\n  {}: expected {}, actual {}",
            diff.field, diff.expected, diff.actual
        );
    }
    case.write_inner_content(|writer| {
        writer
            .create_element("failure")
            .with_attribute(("message", message.as_str()))
            .with_attribute(("type", "ScenarioFailure"))
            .write_text_content(BytesText::new(&body))?;
        Ok(())
    })?;
    Ok(())
}
