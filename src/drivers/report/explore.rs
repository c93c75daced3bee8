//! `sharesim explore --html FILE`: what an exploration reached, as one self-contained
//! page (inline CSS, no script, a Content-Security-Policy that allows nothing else):
//! the grid of (sender, receiver) pairs with allowed pairs marked and cells never
//! reached visible, the transitions taken, fault kinds fired, actions drawn, ticket
//! sync outcomes, and the violations, new and known.

use super::svg::escape;
use crate::drivers::explore::ExploreReport;
use crate::drivers::explore::coverage::Coverage;
use std::collections::BTreeMap;
use std::fmt::Write as _;

const CSS: &str = "
:root { color-scheme: light dark; --allowed: #2e7d32; --forbidden: #c62828; --muted: #888; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem; max-width: 72rem; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
h2 { font-size: 1.15rem; margin-top: 1.8rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #8884; padding: .25rem .5rem; text-align: left; }
table.grid td { text-align: center; min-width: 5.5rem; }
td.allowed { background: #2e7d3222; }
td.forbidden { background: #c6282811; }
td.reached.forbidden { background: #c6282855; font-weight: bold; }
td.unreached { color: var(--muted); border-style: dashed; }
.badge { display: inline-block; padding: .1rem .5rem; border-radius: .6rem; margin-right: .4rem; }
.new { background: #c6282833; } .known { background: #f9a82533; } .clean { background: #2e7d3233; }
.legend span { margin-right: 1rem; }
";

fn tally_table(out: &mut String, id: &str, title: &str, map: &BTreeMap<String, u64>) {
    let _ = writeln!(
        out,
        "<h2 id=\"{id}\">{} ({})</h2>",
        escape(title),
        map.len()
    );
    if map.is_empty() {
        out.push_str("<p>none</p>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<table class=\"{id}\"><tr><th>what</th><th>count</th></tr>"
    );
    for (key, count) in map {
        let _ = writeln!(out, "<tr><td>{}</td><td>{count}</td></tr>", escape(key));
    }
    out.push_str("</table>\n");
}

/// The pair grid as a table: allowed cells green, others red; an unreached cell shows
/// `never` with a dashed border, a reached one its count.
fn grid(out: &mut String, coverage: &Coverage) {
    let grid = coverage.grid();
    out.push_str("<h2 id=\"grid\">Pairs of copies seen after a step</h2>\n");
    out.push_str("<p class=\"legend\"><span>rows: the sender's copy</span><span>columns: the receiver's copy</span><span>green: allowed by the consistency rule</span><span>red: not allowed</span><span>dashed, <em>never</em>: not reached</span></p>\n");
    out.push_str("<table class=\"grid\"><tr><th>sender \\ receiver</th>");
    if let Some(first) = grid.first() {
        for cell in first {
            let _ = write!(out, "<th>{}</th>", escape(&cell.receiver));
        }
    }
    out.push_str("</tr>\n");
    for row in &grid {
        let sender = row.first().map_or("", |c| c.sender.as_str());
        let _ = write!(out, "<tr><th>{}</th>", escape(sender));
        for cell in row {
            let rule = if cell.allowed { "allowed" } else { "forbidden" };
            let reach = if cell.seen > 0 {
                "reached"
            } else {
                "unreached"
            };
            let text = if cell.seen > 0 {
                cell.seen.to_string()
            } else {
                "never".to_string()
            };
            let _ = write!(
                out,
                "<td class=\"{rule} {reach}\" data-pair=\"{}/{}\" title=\"{} / {}: {rule}\">{text}</td>",
                escape(&cell.sender),
                escape(&cell.receiver),
                escape(&cell.sender),
                escape(&cell.receiver)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// The whole page.
pub(crate) fn page(report: &ExploreReport) -> String {
    let mut out = String::new();
    let title = format!("sharesim explore, seed {}", report.seed);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let verdict = if report.found_new() {
        format!(
            "<span class=\"badge new\">{} new</span>",
            report.new_schedules
        )
    } else {
        "<span class=\"badge clean\">nothing new</span>".to_string()
    };
    let _ = writeln!(
        out,
        "<p id=\"summary\">{} schedule(s) (shard {}) in {:.1} s; {} broke an invariant: {verdict}<span class=\"badge known\">{} known</span></p>",
        report.schedules,
        report.shard,
        report.seconds,
        report.violating_schedules,
        report.known_schedules
    );
    grid(&mut out, &report.coverage);
    let coverage = &report.coverage;
    tally_table(
        &mut out,
        "transitions",
        "Transitions taken",
        &coverage.transitions,
    );
    tally_table(&mut out, "faults", "Faults fired", &coverage.faults_fired);
    tally_table(&mut out, "actions", "Actions drawn", &coverage.actions);
    let missing = coverage.not_drawn();
    if !missing.is_empty() {
        let _ = writeln!(
            out,
            "<p id=\"not-drawn\">Never drawn: {}</p>",
            escape(&missing.join(", "))
        );
    }
    tally_table(
        &mut out,
        "tickets",
        "Ticket sync outcomes",
        &coverage.ticket_sync,
    );
    out.push_str("<h2 id=\"violations\">Violations</h2>\n<table class=\"violations\"><tr><th>label</th><th>invariant</th><th>final pair</th><th>schedules</th><th>file</th></tr>\n");
    for finding in &report.findings {
        let _ = writeln!(
            out,
            "<tr class=\"new\"><td>new</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(finding.invariant),
            escape(&finding.signature.pair),
            finding.schedules,
            escape(&finding.path)
        );
    }
    for entry in &report.in_corpus {
        let _ = writeln!(
            out,
            "<tr class=\"new\"><td>new (in the corpus)</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&entry.invariant),
            escape(&entry.signature.pair),
            entry.times_seen,
            escape(&entry.file)
        );
    }
    for known in &report.known {
        let _ = writeln!(
            out,
            "<tr class=\"known\"><td>known</td><td>{}</td><td>{}</td><td>{}</td><td>scenarios/found/{}</td></tr>",
            escape(&known.invariant),
            escape(&known.pair),
            known.schedules,
            escape(&known.file)
        );
    }
    out.push_str("</table>\n<footer>Made by sharesim explore.</footer>\n</body>\n</html>\n");
    out
}
