//! Paging a list the two ways Zendesk pages tickets: offset (`page`, `per_page`,
//! answered with `next_page`, `previous_page` and `count`) and cursor (`page[size]`,
//! `page[after]`, `page[before]`, answered with `meta` and `links`). Which items a page
//! holds is decided here, from the query and the list's ids; the routes render it.
//!
//! Our model where Zendesk documents nothing: cursors are opaque (base64 of an id),
//! `per_page` over 100 is served as 100, `has_more` is exact (no empty last page), and
//! a link that leads nowhere is null, which is where node-zendesk stops following.

use super::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::ops::Range;

/// The most items one page holds, in either style (Zendesk's documented limit).
pub(crate) const MAX_PAGE_SIZE: usize = 100;

/// How a list call asks to be paged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Paging {
    /// `page` (from 1) of `per_page` items.
    Offset {
        /// The page, from 1.
        page: usize,
        /// Items per page.
        per_page: usize,
    },
    /// `size` items after (or before) a cursor.
    Cursor {
        /// Items per page.
        size: usize,
        /// The id whose successors to list.
        after: Option<u64>,
        /// The id whose predecessors to list.
        before: Option<u64>,
    },
}

impl Default for Paging {
    fn default() -> Self {
        Paging::Offset {
            page: 1,
            per_page: MAX_PAGE_SIZE,
        }
    }
}

/// Reads the paging parameters of a query string; anything else in it is ignored.
pub(crate) fn parse_paging(query: Option<&str>) -> Result<Paging, ApiError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    if pairs.iter().any(|(key, _)| key.starts_with("page[")) {
        let size = match get("page[size]") {
            None => MAX_PAGE_SIZE,
            Some(text) => {
                let size = positive(text, "page.size")?;
                if size > MAX_PAGE_SIZE {
                    return Err(invalid(
                        "page.size",
                        format!("must be less than or equal to {MAX_PAGE_SIZE}"),
                    ));
                }
                size
            }
        };
        let after = get("page[after]")
            .map(|c| decode_cursor(c, "page.after"))
            .transpose()?;
        let before = get("page[before]")
            .map(|c| decode_cursor(c, "page.before"))
            .transpose()?;
        if after.is_some() && before.is_some() {
            return Err(invalid(
                "page.after",
                "cannot be combined with page.before".to_string(),
            ));
        }
        return Ok(Paging::Cursor {
            size,
            after,
            before,
        });
    }
    let page = get("page").map(|text| positive(text, "page")).transpose()?;
    let per_page = get("per_page")
        .map(|text| positive(text, "per_page"))
        .transpose()?;
    Ok(Paging::Offset {
        page: page.unwrap_or(1),
        per_page: per_page.unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE),
    })
}

fn positive(text: &str, attribute: &str) -> Result<usize, ApiError> {
    match text.trim().parse::<usize>() {
        Ok(value) if value >= 1 => Ok(value),
        _ => Err(invalid(attribute, "must be a positive integer".to_string())),
    }
}

fn invalid(attribute: &str, problem: String) -> ApiError {
    ApiError::InvalidAttribute {
        attribute: attribute.to_string(),
        problem,
    }
}

/// The opaque cursor that names an item.
pub(crate) fn encode_cursor(id: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

fn decode_cursor(cursor: &str, attribute: &str) -> Result<u64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("id:").and_then(|id| id.parse().ok()))
        .ok_or_else(|| {
            invalid(
                attribute,
                "must be a cursor this endpoint gave out".to_string(),
            )
        })
}

/// Which items (by position in the list, sorted by id) a page holds, and what lies
/// around it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PageSlice {
    /// The positions of the items on this page.
    pub range: Range<usize>,
    /// Whether items come after the page.
    pub more_after: bool,
    /// Whether items come before the page.
    pub more_before: bool,
}

/// The page `paging` asks for, over a list whose ids are `ids` (ascending).
pub(crate) fn slice(ids: &[u64], paging: Paging) -> PageSlice {
    let total = ids.len();
    match paging {
        Paging::Offset { page, per_page } => {
            let start = page.saturating_sub(1).saturating_mul(per_page).min(total);
            let end = start.saturating_add(per_page).min(total);
            PageSlice {
                range: start..end,
                more_after: end < total,
                more_before: page > 1,
            }
        }
        Paging::Cursor {
            size,
            after,
            before,
        } => {
            let range = match (after, before) {
                (_, Some(before)) => {
                    let end = ids.partition_point(|id| *id < before);
                    end.saturating_sub(size)..end
                }
                (after, None) => {
                    let start = after.map_or(0, |after| ids.partition_point(|id| *id <= after));
                    start..(start + size).min(total)
                }
            };
            PageSlice {
                more_after: range.end < total,
                more_before: range.start > 0,
                range,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u64) -> Vec<u64> {
        (1..=n).collect()
    }

    #[test]
    fn queries_pick_a_style_and_refuse_bad_sizes() {
        assert_eq!(parse_paging(None), Ok(Paging::default()));
        assert_eq!(
            parse_paging(Some("page=3&per_page=20&sort_by=id")),
            Ok(Paging::Offset {
                page: 3,
                per_page: 20
            })
        );
        assert_eq!(
            parse_paging(Some("per_page=500")),
            Ok(Paging::Offset {
                page: 1,
                per_page: 100
            }),
            "served as 100"
        );
        let after = encode_cursor(7);
        assert_eq!(
            parse_paging(Some(&format!("page%5Bsize%5D=50&page%5Bafter%5D={after}"))),
            Ok(Paging::Cursor {
                size: 50,
                after: Some(7),
                before: None
            })
        );
        for bad in [
            "page[size]=101",
            "page[size]=0",
            "page[size]=ten",
            "page[after]=nonsense",
            "page[after]=aWQ6MQ&page[before]=aWQ6Mg",
            "per_page=0",
            "page=-1",
        ] {
            assert!(
                matches!(
                    parse_paging(Some(bad)),
                    Err(ApiError::InvalidAttribute { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn offset_pages_cover_the_list_once() {
        let list = ids(250);
        let pages: Vec<PageSlice> = (1..=4)
            .map(|page| {
                slice(
                    &list,
                    Paging::Offset {
                        page,
                        per_page: 100,
                    },
                )
            })
            .collect();
        assert_eq!(pages[0].range, 0..100);
        assert!(pages[0].more_after && !pages[0].more_before);
        assert_eq!(pages[2].range, 200..250);
        assert!(!pages[2].more_after && pages[2].more_before);
        assert_eq!(pages[3].range, 250..250, "past the end: empty");
    }

    #[test]
    fn cursor_pages_walk_both_ways_without_an_empty_last_page() {
        let list = ids(200);
        let first = slice(
            &list,
            Paging::Cursor {
                size: 100,
                after: None,
                before: None,
            },
        );
        assert_eq!(first.range, 0..100);
        assert!(first.more_after);
        let second = slice(
            &list,
            Paging::Cursor {
                size: 100,
                after: Some(100),
                before: None,
            },
        );
        assert_eq!(second.range, 100..200);
        assert!(!second.more_after, "exactly two pages: no empty third");
        let back = slice(
            &list,
            Paging::Cursor {
                size: 30,
                after: None,
                before: Some(101),
            },
        );
        assert_eq!(back.range, 70..100);
        assert!(back.more_before && back.more_after);
        // A cursor naming an id that is gone still finds its place.
        let sparse = [2, 4, 6, 8];
        let page = slice(
            &sparse,
            Paging::Cursor {
                size: 2,
                after: Some(5),
                before: None,
            },
        );
        assert_eq!(page.range, 2..4);
    }
}
