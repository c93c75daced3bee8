//! Where a ticket's life constrains changes to it: a closed ticket is final (a
//! follow-up ticket is opened instead), and `safe_update` refuses a change made from a
//! stale read of the ticket, so two agents cannot silently overwrite each other.

use super::{Ticket, TicketStatus, rest_time};
use chrono::{DateTime, Utc};

/// Zendesk's words when a closed ticket is changed (the 422's description).
pub(crate) const CLOSED_PREVENTS_UPDATE: &str = "Status: closed prevents ticket update";

/// Why a change to `ticket` is refused because it is closed, if it is.
pub(crate) fn closed_refusal(ticket: &Ticket) -> Option<&'static str> {
    (ticket.status == TicketStatus::Closed).then_some(CLOSED_PREVENTS_UPDATE)
}

/// What `via_followup_source_id` does for a new ticket: a closed source makes the new
/// ticket its follow-up; any other ticket has no effect, as Zendesk documents.
pub(crate) fn follow_up_of(source: &Ticket) -> Option<u64> {
    (source.status == TicketStatus::Closed).then_some(source.id)
}

/// Why a `safe_update` is refused: the ticket changed since the caller read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StampRefusal {
    /// `safe_update` without an `updated_stamp` to compare.
    Missing,
    /// The stamp is not a timestamp.
    Unreadable(String),
    /// The ticket's `updated_at` differs from the stamp: someone else changed it.
    Stale {
        /// What the caller read.
        stamp: String,
        /// What the ticket says now.
        updated_at: String,
    },
}

/// Checks a `safe_update`'s `updated_stamp` against the ticket's `updated_at`: they must
/// name the same instant (any RFC 3339 spelling of it).
pub(crate) fn check_stamp(ticket: &Ticket, stamp: Option<&str>) -> Result<(), StampRefusal> {
    let stamp = stamp.ok_or(StampRefusal::Missing)?;
    let read = DateTime::parse_from_rfc3339(stamp).map_err(|error| {
        StampRefusal::Unreadable(format!("{stamp:?} is not a timestamp: {error}"))
    })?;
    let current = DateTime::parse_from_rfc3339(&ticket.updated_at).ok();
    if current == Some(read) {
        Ok(())
    } else {
        Err(StampRefusal::Stale {
            stamp: stamp.to_string(),
            updated_at: ticket.updated_at.clone(),
        })
    }
}

/// Moves a ticket's `updated_at` to `now`, and always forward by at least a second
/// *(model)*: two changes within one second still get two stamps, so `safe_update`
/// can tell every version apart.
pub(crate) fn touch(ticket: &mut Ticket, now: DateTime<Utc>) {
    let next = match DateTime::parse_from_rfc3339(&ticket.updated_at) {
        Ok(previous) if previous.with_timezone(&Utc) >= now => {
            previous.with_timezone(&Utc) + chrono::Duration::seconds(1)
        }
        _ => now,
    };
    ticket.updated_at = rest_time(next);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::ticket::tests_support::ticket;
    use chrono::TimeZone;

    #[test]
    fn only_closed_tickets_are_final_and_have_follow_ups() {
        let mut t = ticket();
        for status in [
            TicketStatus::New,
            TicketStatus::Open,
            TicketStatus::Pending,
            TicketStatus::Hold,
            TicketStatus::Solved,
        ] {
            t.status = status;
            assert_eq!(closed_refusal(&t), None, "{status}");
            assert_eq!(follow_up_of(&t), None, "{status}");
        }
        t.status = TicketStatus::Closed;
        assert_eq!(closed_refusal(&t), Some(CLOSED_PREVENTS_UPDATE));
        assert_eq!(follow_up_of(&t), Some(t.id));
    }

    #[test]
    fn a_stale_stamp_is_refused_and_the_same_instant_in_any_spelling_is_not() {
        let mut t = ticket();
        t.updated_at = "2026-01-01T09:00:05Z".to_string();
        assert_eq!(check_stamp(&t, Some("2026-01-01T09:00:05Z")), Ok(()));
        assert_eq!(check_stamp(&t, Some("2026-01-01T10:00:05+01:00")), Ok(()));
        assert_eq!(check_stamp(&t, None), Err(StampRefusal::Missing));
        assert!(matches!(
            check_stamp(&t, Some("yesterday")),
            Err(StampRefusal::Unreadable(_))
        ));
        assert_eq!(
            check_stamp(&t, Some("2026-01-01T09:00:04Z")),
            Err(StampRefusal::Stale {
                stamp: "2026-01-01T09:00:04Z".into(),
                updated_at: "2026-01-01T09:00:05Z".into()
            })
        );
    }

    #[test]
    fn every_change_moves_updated_at_forward() {
        let mut t = ticket();
        let at = |s| Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, s).unwrap();
        t.updated_at = rest_time(at(5));
        touch(&mut t, at(9));
        assert_eq!(t.updated_at, "2026-01-01T09:00:09Z");
        // The same second again (a wall clock): one second later instead.
        touch(&mut t, at(9));
        assert_eq!(t.updated_at, "2026-01-01T09:00:10Z");
        touch(&mut t, at(3));
        assert_eq!(t.updated_at, "2026-01-01T09:00:11Z");
    }
}
