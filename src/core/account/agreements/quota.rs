//! How many invitations a receiver lets wait: the quota an invitation spends, per
//! proven sender or shared by every unproven one.

use crate::core::account::ReceiveError;
use crate::core::model::AgreementStatus;

/// Whose share of the pending quota an invitation spends.
#[derive(Clone, Copy, Debug)]
pub(super) enum Quota<'a> {
    /// A sender of this world, proven by the world's own transport.
    Sender(&'a str),
    /// Everyone else: strangers, external accounts and anyone claiming a name.
    Unverified,
}

/// Invitations need no token: bound how many a stranger can leave waiting. Counted per
/// proven sender; every unproven invitation (whatever sender it claims) shares one count,
/// so a flood that claims to come from acme never blocks acme's own invitations; an
/// account that declines them all bounds its declined copies the same way.
pub(super) fn check_room(
    state: &crate::core::account::AccountState,
    quota: Quota<'_>,
    from: &str,
    decline_all: bool,
) -> Result<(), ReceiveError> {
    let held = |status: AgreementStatus| match quota {
        Quota::Sender(sender) => state.inbound_held(Some(sender), status),
        Quota::Unverified => state.inbound_held(None, status),
    };
    let whose = match quota {
        Quota::Sender(_) => format!("from {from}"),
        Quota::Unverified => "from senders outside this world (or not proven)".to_string(),
    };
    let pending = held(AgreementStatus::Pending);
    if pending >= crate::core::limits::MAX_PENDING_INBOUND {
        return Err(ReceiveError::TooMany(format!(
            "{pending} invitations {whose} are already pending; answer or delete some first"
        )));
    }
    let declined = if decline_all {
        held(AgreementStatus::Declined)
    } else {
        0
    };
    if declined >= crate::core::limits::MAX_PENDING_INBOUND {
        return Err(ReceiveError::TooMany(format!(
            "{declined} invitations {whose} were already declined; delete some first"
        )));
    }
    Ok(())
}
