//! Line and column of byte offsets in a scenario's source ([`Position`]), found by binary
//! search over the line starts computed once: positioning every step of a long file stays
//! linear.

use std::fmt;

/// A 1-based line and column in a scenario file, what people read in error messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
}

impl Position {
    /// Finds the position of a byte offset in `source`. Offsets past the end or inside a
    /// multi-byte character are moved back to the nearest character boundary, so any
    /// span (even a stale one) gives an answer instead of a panic.
    pub fn of_offset(source: &str, offset: usize) -> Position {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = source.get(..offset).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        let col = before.get(line_start..).unwrap_or_default().chars().count() + 1;
        Position { line, col }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Where each line of one source text starts.
#[derive(Debug)]
pub(crate) struct LineIndex<'a> {
    source: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `source` (one pass).
    pub(crate) fn new(source: &'a str) -> LineIndex<'a> {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        LineIndex { source, starts }
    }

    /// The same answer as [`Position::of_offset`], in logarithmic time plus the length
    /// of the line.
    pub(crate) fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.source.len());
        while !self.source.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|start| *start <= offset);
        let line_start = self.starts[line - 1];
        let col = self
            .source
            .get(line_start..offset)
            .unwrap_or_default()
            .chars()
            .count()
            + 1;
        Position { line, col }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_match_the_linear_scan() {
        let source = "a = 1\n\nbé = \"x\"\r\n[[steps]]\nlast";
        let index = LineIndex::new(source);
        for offset in 0..=source.len() + 3 {
            assert_eq!(
                index.position(offset),
                Position::of_offset(source, offset),
                "offset {offset}"
            );
        }
    }
}
