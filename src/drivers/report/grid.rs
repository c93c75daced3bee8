//! The status grid: one agreement's two copies as a point on a grid of the sender's
//! status (rows) against the receiver's (columns), with the pairs the model allows and
//! the transient ones (a message in flight) marked, and the path the pair took drawn
//! across it. Learners see at a glance that a handshake walks from allowed pair to
//! allowed pair, and where a fault left it stranded.
//!
//! The same paths are drawn as SVG (the reports' player, the live view) and as text
//! (`sharesim explain --grid`). Which pairs are allowed or transient comes from
//! `consistency`, never from here.

use super::svg::escape;
use crate::core::consistency::{self, PairPath};
use crate::core::model::{AgreementStatus, Direction, short_uuid};
use crate::drivers::scenario::outcome::Outcome;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The grid's rows: every status a sender's copy can take, then no copy.
const ROWS: [Option<AgreementStatus>; 8] = [
    Some(AgreementStatus::Pending),
    Some(AgreementStatus::Accepted),
    Some(AgreementStatus::Declined),
    Some(AgreementStatus::Inactive),
    Some(AgreementStatus::Failed),
    Some(AgreementStatus::SslError),
    Some(AgreementStatus::ConfigurationError),
    None,
];

/// The grid's columns: every status a receiver's copy can take (a receiver never
/// records a delivery failure), then no copy.
const COLUMNS: [Option<AgreementStatus>; 5] = [
    Some(AgreementStatus::Pending),
    Some(AgreementStatus::Accepted),
    Some(AgreementStatus::Declined),
    Some(AgreementStatus::Inactive),
    None,
];

/// What a cell of the grid means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// The model allows the two copies to rest here.
    Allowed,
    /// Seen only while a message about the agreement is in flight.
    Transient,
    /// A divergence: the copies disagree with nothing left to tell.
    Divergence,
}

impl CellKind {
    /// The kind of the pair (sender's copy, receiver's copy).
    pub fn of(sender: Option<AgreementStatus>, receiver: Option<AgreementStatus>) -> CellKind {
        if consistency::check(sender, receiver).is_ok() {
            CellKind::Allowed
        } else if consistency::transient(sender, receiver) {
            CellKind::Transient
        } else {
            CellKind::Divergence
        }
    }

    fn class(self) -> &'static str {
        match self {
            CellKind::Allowed => "gr-allowed",
            CellKind::Transient => "gr-transient",
            CellKind::Divergence => "gr-divergence",
        }
    }

    fn mark(self) -> char {
        match self {
            CellKind::Allowed => '✓',
            CellKind::Transient => '~',
            CellKind::Divergence => '✗',
        }
    }

    /// A few words for a narration line.
    pub fn words(self) -> &'static str {
        match self {
            CellKind::Allowed => "allowed",
            CellKind::Transient => "transient: a message about it is in flight",
            CellKind::Divergence => "a divergence",
        }
    }
}

fn copy_name(copy: Option<AgreementStatus>) -> &'static str {
    copy.map_or("no copy", AgreementStatus::as_str)
}

/// Where a pair sits on the grid, when it can sit anywhere (a receiver's copy never
/// holds a failure status, so such a pair has no cell).
fn cell(
    sender: Option<AgreementStatus>,
    receiver: Option<AgreementStatus>,
) -> Option<(usize, usize)> {
    let row = ROWS.iter().position(|r| *r == sender)?;
    let column = COLUMNS.iter().position(|c| *c == receiver)?;
    Some((row, column))
}

/// Each agreement's path through a scenario, read from the per-step snapshots (step
/// 0 is before anything happened: no copies). Copies are paired by their shared uuid;
/// an agreement is named by its handle, or its short uuid when it has none.
pub fn paths(outcome: &Outcome) -> Vec<PairPath> {
    let mut paths: BTreeMap<String, PairPath> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for step in &outcome.steps {
        if step.accounts.is_empty() {
            continue;
        }
        let mut now: BTreeMap<&str, (Option<AgreementStatus>, Option<AgreementStatus>)> =
            BTreeMap::new();
        for account in &step.accounts {
            for row in &account.agreements {
                let Ok(status) = row.status.parse::<AgreementStatus>() else {
                    continue;
                };
                let Ok(direction) = row.direction.parse::<Direction>() else {
                    continue;
                };
                let path = paths.entry(row.uuid.clone()).or_insert_with(|| {
                    order.push(row.uuid.clone());
                    let mut path = PairPath {
                        label: row
                            .handle
                            .clone()
                            .unwrap_or_else(|| format!("agreement {}", short_uuid(&row.uuid))),
                        ..PairPath::default()
                    };
                    path.observe(0, None, None);
                    path
                });
                let remote = row.remote_subdomain.clone().unwrap_or_default();
                let pair = now.entry(row.uuid.as_str()).or_default();
                match direction {
                    Direction::Outbound => {
                        pair.0 = Some(status);
                        path.sender = account.subdomain.clone();
                        if path.receiver.is_empty() {
                            path.receiver = remote;
                        }
                    }
                    Direction::Inbound => {
                        pair.1 = Some(status);
                        path.receiver = account.subdomain.clone();
                        if path.sender.is_empty() {
                            path.sender = remote;
                        }
                    }
                }
            }
        }
        for (uuid, path) in paths.iter_mut() {
            let (sender, receiver) = now.get(uuid.as_str()).copied().unwrap_or_default();
            path.observe(step.number as u64, sender, receiver);
        }
    }
    order
        .into_iter()
        .filter_map(|uuid| paths.remove(&uuid))
        .collect()
}

/// Sizes of the drawn grid.
const LABEL_WIDTH: i64 = 150;
const CELL_W: i64 = 76;
const CELL_H: i64 = 26;
const HEAD: i64 = 58;
const PAD: i64 = 10;

/// The grid of one agreement's path as an SVG document (inline in HTML too). Every
/// cell carries `data-cell="row-column"`; every point of the path `data-at` (its step
/// or event) and every segment the `data-at` of the point it leads to, so a page can
/// highlight the pair at any moment. The last point's cell is marked now.
pub fn svg(path: &PairPath) -> String {
    draw(path, "numbers: steps")
}

/// The grid of a served world's agreement (the live view): its points are numbered in
/// the order the live view saw the pair change, not by step.
pub fn live_svg(path: &PairPath) -> String {
    draw(path, "numbers: order of changes")
}

fn draw(path: &PairPath, numbers: &str) -> String {
    let width = LABEL_WIDTH + CELL_W * COLUMNS.len() as i64 + PAD;
    let height = HEAD + CELL_H * ROWS.len() as i64 + 30;
    let mut out = String::new();
    let title = format!("{}: {} → {}", path.label, path.sender, path.receiver);
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"gr\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Status grid of {}\" data-label=\"{}\">",
        escape(&title),
        escape(&path.label)
    );
    let _ = writeln!(out, "<title>Status grid: {}</title>", escape(&title));
    let _ = writeln!(out, "<style>\n{STYLE}</style>");
    let _ = writeln!(
        out,
        "<rect class=\"gr-bg\" x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\"/>"
    );
    let _ = writeln!(
        out,
        "<text class=\"gr-title\" x=\"{PAD}\" y=\"16\">{}</text>",
        escape(&clip(&title, 60))
    );
    let _ = writeln!(
        out,
        "<text class=\"gr-axis\" x=\"{LABEL_WIDTH}\" y=\"32\">{}'s copy →</text><text class=\"gr-axis\" x=\"{PAD}\" y=\"{}\">{}'s copy ↓</text>",
        escape(&clip(&path.receiver, 24)),
        HEAD - 6,
        escape(&clip(&path.sender, 16))
    );
    for (column, copy) in COLUMNS.iter().enumerate() {
        let x = LABEL_WIDTH + column as i64 * CELL_W + CELL_W / 2;
        let _ = write!(
            out,
            "<text class=\"gr-head\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            HEAD - 6,
            copy_name(*copy)
        );
    }
    out.push('\n');
    let now = path
        .points
        .last()
        .and_then(|p| cell(p.sender_copy, p.receiver_copy));
    for (row, sender) in ROWS.iter().enumerate() {
        let y = HEAD + row as i64 * CELL_H;
        let _ = write!(
            out,
            "<text class=\"gr-head\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL_WIDTH - 6,
            y + CELL_H / 2 + 4,
            copy_name(*sender)
        );
        for (column, receiver) in COLUMNS.iter().enumerate() {
            let kind = CellKind::of(*sender, *receiver);
            let x = LABEL_WIDTH + column as i64 * CELL_W;
            let current = if now == Some((row, column)) {
                " gr-now"
            } else {
                ""
            };
            let _ = write!(
                out,
                "<rect class=\"gr-cell {}{current}\" data-cell=\"{row}-{column}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\"><title>{} ↔ {}: {}</title></rect>",
                kind.class(),
                x + 1,
                y + 1,
                CELL_W - 2,
                CELL_H - 2,
                copy_name(*sender),
                copy_name(*receiver),
                kind.words()
            );
        }
        out.push('\n');
    }
    path_marks(&mut out, path);
    let legend_y = HEAD + CELL_H * ROWS.len() as i64 + 18;
    let _ = writeln!(
        out,
        "<g class=\"gr-legend\"><rect class=\"gr-cell gr-allowed\" x=\"{PAD}\" y=\"{}\" width=\"12\" height=\"12\"/><text x=\"{}\" y=\"{legend_y}\">allowed</text><rect class=\"gr-cell gr-transient\" x=\"{}\" y=\"{}\" width=\"12\" height=\"12\"/><text x=\"{}\" y=\"{legend_y}\">transient (in flight)</text><rect class=\"gr-cell gr-divergence\" x=\"{}\" y=\"{}\" width=\"12\" height=\"12\"/><text x=\"{}\" y=\"{legend_y}\">divergence</text><text x=\"{}\" y=\"{legend_y}\">● {numbers}</text></g>",
        legend_y - 10,
        PAD + 16,
        PAD + 80,
        legend_y - 10,
        PAD + 96,
        PAD + 236,
        legend_y - 10,
        PAD + 252,
        PAD + 340
    );
    out.push_str("</svg>\n");
    out
}

/// The path's segments and numbered points.
fn path_marks(out: &mut String, path: &PairPath) {
    let centre = |(row, column): (usize, usize)| {
        (
            LABEL_WIDTH + column as i64 * CELL_W + CELL_W / 2,
            HEAD + row as i64 * CELL_H + CELL_H / 2,
        )
    };
    let placed: Vec<(u64, (usize, usize))> = path
        .points
        .iter()
        .filter_map(|p| Some((p.at, cell(p.sender_copy, p.receiver_copy)?)))
        .collect();
    // A cell visited again gets its next mark beside the earlier ones.
    let mut visits: BTreeMap<(usize, usize), i64> = BTreeMap::new();
    let mut marks = Vec::new();
    for (at, place) in &placed {
        let seen = visits.entry(*place).or_insert(0);
        let (x, y) = centre(*place);
        marks.push((*at, x - 22 + (*seen % 4) * 15, y));
        *seen += 1;
    }
    out.push_str("<g class=\"gr-path\">");
    for pair in marks.windows(2) {
        let ((_, x1, y1), (at, x2, y2)) = (pair[0], pair[1]);
        let _ = write!(
            out,
            "<line class=\"gr-seg\" data-at=\"{at}\" x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\"/>"
        );
    }
    for (index, (at, x, y)) in marks.iter().enumerate() {
        let ((row, column), last) = (placed[index].1, index + 1 == marks.len());
        let class = if last { "gr-point gr-last" } else { "gr-point" };
        let _ = write!(
            out,
            "<g class=\"{class}\" data-at=\"{at}\" data-cell=\"{row}-{column}\"><circle cx=\"{x}\" cy=\"{y}\" r=\"7\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{at}</text></g>",
            y + 3
        );
    }
    out.push_str("</g>\n");
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut kept: String = text.chars().take(max - 1).collect();
        kept.push('…');
        kept
    }
}

/// The grid's look, scoped by the `gr-` prefix (several grids share one page).
const STYLE: &str = "\
.gr-bg{fill:#ffffff}
.gr text{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:11px;fill:#1f2937}
.gr .gr-title{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;font-weight:600}
.gr .gr-axis{fill:#6b7280;font-size:10px}
.gr-cell{stroke:#d1d5db;stroke-width:1}
.gr-allowed{fill:#dcfce7}
.gr-transient{fill:#fef9c3}
.gr-divergence{fill:#fee2e2}
.gr-cell.gr-now{stroke:#4f46e5;stroke-width:3}
.gr-seg{stroke:#4f46e5;stroke-width:2;opacity:.8}
.gr-point circle{fill:#4f46e5;stroke:#ffffff;stroke-width:1}
.gr .gr-point text{fill:#ffffff;font-size:8px;font-weight:700}
.gr-ahead{opacity:.18}
.gr .gr-legend text{font-size:10px;fill:#6b7280}
@media screen and (prefers-color-scheme:dark){
.gr-bg{fill:#111827}
.gr text{fill:#e5e7eb}
.gr-cell{stroke:#374151}
.gr-allowed{fill:#052e16}
.gr-transient{fill:#422006}
.gr-divergence{fill:#450a0a}
.gr-cell.gr-now{stroke:#a5b4fc}
.gr-seg{stroke:#a5b4fc}
.gr-point circle{fill:#818cf8;stroke:#111827}
.gr .gr-point text{fill:#111827}
}
";

/// The grids of `paths` as text for a terminal: rows are the sender's copy, columns
/// the receiver's; each cell shows its kind (✓ allowed, ~ transient, ✗ divergence) and
/// the steps at which the pair arrived there; the pair's last cell is in brackets.
pub fn text(paths: &[PairPath]) -> String {
    let mut out = String::new();
    for path in paths {
        let _ = writeln!(
            out,
            "{}: {} → {}  (rows: {}'s copy; columns: {}'s copy)",
            path.label, path.sender, path.receiver, path.sender, path.receiver
        );
        let now = path
            .points
            .last()
            .and_then(|p| cell(p.sender_copy, p.receiver_copy));
        let mut visits: BTreeMap<(usize, usize), Vec<u64>> = BTreeMap::new();
        for point in &path.points {
            if let Some(place) = cell(point.sender_copy, point.receiver_copy) {
                visits.entry(place).or_default().push(point.at);
            }
        }
        let width = 12;
        let mut line = format!("  {:<21}", "");
        for copy in COLUMNS {
            let _ = write!(line, "{:<width$}", copy_name(copy));
        }
        let _ = writeln!(out, "{}", line.trim_end());
        for (row, sender) in ROWS.iter().enumerate() {
            let mut line = format!("  {:<21}", copy_name(*sender));
            for (column, receiver) in COLUMNS.iter().enumerate() {
                let mut text = CellKind::of(*sender, *receiver).mark().to_string();
                if let Some(steps) = visits.get(&(row, column)) {
                    let list: Vec<String> = steps.iter().map(u64::to_string).collect();
                    text.push(' ');
                    text.push_str(&clip(&list.join(","), 8));
                }
                if now == Some((row, column)) {
                    text = format!("[{text}]");
                }
                let _ = write!(line, "{text:<width$}");
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out.push('\n');
    }
    if !paths.is_empty() {
        out.push_str("✓ allowed   ~ transient (a message is in flight)   ✗ divergence   numbers: the steps at which the pair arrived there (0: before step 1)   [ ]: where it ended\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::consistency::PairPoint;
    use AgreementStatus::*;

    fn handshake() -> PairPath {
        let mut path = PairPath {
            label: "esc".to_string(),
            sender: "acme".to_string(),
            receiver: "globex".to_string(),
            points: Vec::new(),
        };
        path.observe(0, None, None);
        path.observe(1, Some(Pending), Some(Pending));
        path.observe(3, Some(Accepted), Some(Accepted));
        path
    }

    #[test]
    fn the_svg_marks_each_kind_of_cell_and_the_pair_now() {
        let svg = handshake();
        let drawn = svg_of(&svg);
        assert_eq!(drawn.matches("class=\"gr-cell ").count(), 40 + 3);
        // accepted ↔ accepted is row 1, column 1, and is where the path ended.
        assert!(
            drawn.contains("class=\"gr-cell gr-allowed gr-now\" data-cell=\"1-1\""),
            "{drawn}"
        );
        assert!(
            drawn.contains("data-cell=\"0-4\"")
                && drawn.contains("class=\"gr-cell gr-transient\" data-cell=\"0-4\"")
        );
        assert!(drawn.contains("class=\"gr-cell gr-divergence\" data-cell=\"4-0\""));
        assert_eq!(drawn.matches("class=\"gr-seg\"").count(), 2);
        assert!(drawn.contains("<g class=\"gr-point gr-last\" data-at=\"3\" data-cell=\"1-1\">"));
    }

    fn svg_of(path: &PairPath) -> String {
        svg(path)
    }

    #[test]
    fn the_text_grid_shows_kinds_steps_and_the_end() {
        let text = text(&[handshake()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "esc: acme → globex  (rows: acme's copy; columns: globex's copy)"
        );
        let pending = lines[2..]
            .iter()
            .find(|l| l.trim_start().starts_with("pending"))
            .unwrap();
        assert!(pending.contains("✓ 1"), "{pending}");
        let accepted = lines
            .iter()
            .find(|l| l.trim_start().starts_with("accepted"))
            .unwrap();
        assert!(accepted.contains("[✓ 3]"), "{accepted}");
        let none = lines
            .iter()
            .find(|l| l.trim_start().starts_with("no copy"))
            .unwrap();
        assert!(none.ends_with("✓ 0"), "{none}");
    }

    #[test]
    fn pairs_without_a_cell_are_left_off_the_drawing() {
        let path = PairPath {
            label: "x".into(),
            sender: "a".into(),
            receiver: "b".into(),
            points: vec![PairPoint {
                at: 1,
                sender_copy: Some(Pending),
                receiver_copy: Some(Failed),
            }],
        };
        assert!(!svg(&path).contains("class=\"gr-point"));
        assert_eq!(
            CellKind::of(Some(Pending), Some(Failed)),
            CellKind::Divergence
        );
    }
}
