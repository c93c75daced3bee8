//! The one error type of scenario loading, `file:line:col: message`, and how TOML's
//! and serde's own errors are reworded into sentences that say what is allowed.

use std::ops::Range;
use std::path::Path;

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor::Ansi};

use crate::drivers::scenario::format::Position;

/// Why a scenario file cannot be used, and where: the one error type of this layer, so
/// the CLI can print `file:line:col: message` or a rendered diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct ScenarioError {
    /// The file, as given to `load`/`parse`.
    pub file: String,
    /// 1-based line of the offending key or value (1 when the file could not be read).
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong and what is allowed instead.
    pub message: String,
    /// Byte span in the source, when the error is about a place in it.
    pub span: Option<Range<usize>>,
}

impl ScenarioError {
    /// An error about the text at `span` of `source`.
    pub(super) fn at(
        file: &str,
        source: &str,
        span: Range<usize>,
        message: String,
    ) -> ScenarioError {
        let Position { line, col } = Position::of_offset(source, span.start);
        ScenarioError {
            file: file.to_owned(),
            line,
            col,
            message,
            span: Some(span),
        }
    }

    /// An error about a file or folder as a whole (it could not be read).
    pub(super) fn about_file(file: &Path, message: String) -> ScenarioError {
        ScenarioError {
            file: file.display().to_string(),
            line: 1,
            col: 1,
            message,
            span: None,
        }
    }

    pub(super) fn from_toml(file: &str, source: &str, error: &toml::de::Error) -> ScenarioError {
        let message = if error.message() == "duplicate key" {
            let key = error.span().and_then(|span| source.get(span));
            format!(
                "`{}` is already set earlier in the same table; TOML allows each key once \
                 per table",
                key.unwrap_or("this key")
            )
        } else {
            reword(error.message())
        };
        match error.span() {
            Some(span) => ScenarioError::at(file, source, span, message),
            // The parser gives no place when keys nest past its recursion limit; the
            // deepest key is where the file goes wrong.
            None => match deepest_key(source) {
                Some((span, depth)) if message.contains("recursion") => ScenarioError::at(
                    file,
                    source,
                    span,
                    format!(
                        "keys are nested {depth} levels deep here, deeper than sharesim reads; a scenario nests a few levels at most"
                    ),
                ),
                _ => ScenarioError::at(file, source, 0..0, message),
            },
        }
    }

    /// Renders the error as a diagnostic with the offending line and a caret under the
    /// column (ANSI colours when `color`). Falls back to the one-line form if `source`
    /// does not match the error's span.
    pub fn render(&self, source: &str, color: bool) -> String {
        let file = SimpleFile::new(self.file.as_str(), source);
        let mut diagnostic = Diagnostic::error().with_message(&self.message);
        if let Some(span) = &self.span {
            diagnostic =
                diagnostic.with_labels(vec![Label::primary((), caret_range(source, span))]);
        }
        let config = term::Config::default();
        let rendered = if color {
            let mut out = Ansi::new(Vec::new());
            term::emit_to_write_style(&mut out, &config, &file, &diagnostic)
                .map(|()| String::from_utf8_lossy(&out.into_inner()).into_owned())
        } else {
            term::emit_into_string(&config, &file, &diagnostic)
        };
        rendered.unwrap_or_else(|_| format!("{self}\n"))
    }
}

/// The span and depth of the most deeply nested key in `source`: a table header's
/// dotted path (`[a.b.c]`), or a dotted key (`a.b.c = 1`) under its table's path. Quoted
/// key parts are skipped over whole, so a dot inside quotes is not a level.
fn deepest_key(source: &str) -> Option<(Range<usize>, usize)> {
    let mut table_depth = 0;
    let mut deepest: Option<(Range<usize>, usize)> = None;
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let (key, header) = if let Some(rest) = trimmed.strip_prefix("[[") {
            (rest.split("]]").next().unwrap_or_default(), true)
        } else if let Some(rest) = trimmed.strip_prefix('[') {
            (rest.split(']').next().unwrap_or_default(), true)
        } else if let Some((key, _)) = trimmed.split_once('=') {
            (key, false)
        } else {
            continue;
        };
        let levels = key_levels(key);
        let depth = if header {
            table_depth = levels;
            levels
        } else {
            table_depth + levels
        };
        if deepest.as_ref().is_none_or(|(_, most)| depth > *most) {
            let begin = start + indent;
            deepest = Some((begin..begin + trimmed.trim_end().len(), depth));
        }
    }
    deepest
}

/// The number of dotted parts of a key, counting quoted parts as one.
pub(super) fn key_levels(key: &str) -> usize {
    let mut levels = 1;
    let mut quote = None;
    for c in key.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (None, '.') => levels += 1,
            _ => {}
        }
    }
    levels
}

/// Narrows a span to its first token on its first line, so a table's span does not
/// underline the whole table; always inside `source` and on character boundaries.
fn caret_range(source: &str, span: &Range<usize>) -> Range<usize> {
    let mut start = span.start.min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let rest = source.get(start..).unwrap_or_default();
    let line_end = start + rest.find(['\n', '\r']).unwrap_or(rest.len());
    let end = span.end.clamp(start, line_end);
    if end > start && source.is_char_boundary(end) {
        start..end
    } else {
        let width = rest
            .chars()
            .next()
            .filter(|c| *c != '\n')
            .map_or(0, char::len_utf8);
        start..start + width
    }
}

/// Rephrases serde's generic wording ("field", "variant") in the file's terms (keys and
/// values), keeping the list of what is allowed.
pub(crate) fn reword(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return match rest.split_once(", expected ") {
            Some((key, allowed)) => {
                let allowed = allowed.strip_prefix("one of ").unwrap_or(allowed);
                format!("unknown key {key}; allowed keys are {allowed}")
            }
            None => format!(
                "unknown key {}; this table takes no keys",
                rest.trim_end_matches(", there are no fields")
            ),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("missing required key {rest}");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        return format!("wrong type: found {}", name_types(rest));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        return format!("invalid value: {}", name_types(rest));
    }
    message.to_owned()
}

/// Names the expected type in TOML's words rather than Rust's (`an array`, not `a
/// sequence`; a range rather than `u16`).
fn name_types(rest: &str) -> String {
    let Some((found, expected)) = rest.split_once(", expected ") else {
        return rest.to_owned();
    };
    let expected = match expected {
        "a sequence" => "an array",
        "a map" => "a table",
        "u16" => "an integer from 0 to 65535",
        "u32" => "an integer from 0 to 4294967295",
        "u64" => "a non-negative integer",
        "i64" => "an integer",
        other => other,
    };
    format!("{found}, expected {expected}")
}
