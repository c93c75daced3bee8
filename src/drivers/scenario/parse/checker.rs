//! The checks serde cannot make, all before anything runs: subdomains, account names,
//! links, handles defined before use (and never twice), and what a step may do to an
//! account outside the process ([`external`]). A file's steps and the steps sent to a
//! running world (`check_live_steps`) pass the same checks.

mod external;

use indexmap::IndexMap;
use std::collections::HashMap;
use std::ops::Range;

use crate::drivers::scenario::format::{
    Action, Concurrently, ExpectTicket, Expectation, Invite, NOT_CONCURRENT, Ref, Release, Request,
    SUBDOMAIN_PATTERN, Scenario, Step, list,
};

/// A check that failed, before it is tied to a file.
pub(super) struct Invalid {
    pub(super) span: Range<usize>,
    pub(super) message: String,
}

pub(super) type Checked = Result<(), Invalid>;

pub(super) fn invalid(reference: &Ref, message: String) -> Checked {
    Err(Invalid {
        span: reference.span(),
        message,
    })
}

/// The two kinds of handle a scenario defines with `as`.
#[derive(Clone, Copy)]
enum HandleKind {
    Agreement,
    Ticket,
}

impl HandleKind {
    fn noun(self) -> &'static str {
        match self {
            HandleKind::Agreement => "agreement",
            HandleKind::Ticket => "ticket",
        }
    }

    fn defining_action(self) -> &'static str {
        match self {
            HandleKind::Agreement => "invite",
            HandleKind::Ticket => "ticket",
        }
    }
}

/// Walks the steps in order, knowing which handles exist at each point.
pub(super) struct Checker<'a> {
    /// The accounts steps may name.
    accounts: Vec<&'a str>,
    /// Those of them that live outside the process (`external =`): steps may link to
    /// them, never act inside them.
    externals: Vec<&'a str>,
    /// The sender and receiver of each agreement handle, so checks that read both
    /// copies can refuse a copy that lives outside the process.
    links: HashMap<String, (String, String)>,
    /// How more accounts could be had, for the unknown-account message.
    account_hint: &'static str,
    /// Names where a span is for messages ("line 12").
    place: &'a dyn Fn(&Range<usize>) -> String,
    /// Handles defined by the steps seen so far, with the span of their definition, in
    /// the order defined (maps: a long scenario is checked in linear time).
    agreements: IndexMap<String, Range<usize>>,
    tickets: IndexMap<String, Range<usize>>,
    /// Where each handle is first defined anywhere in the file, to tell "later" from
    /// "never" in messages.
    first_definitions: HashMap<(bool, String), Range<usize>>,
}

/// Where each handle is first defined among `steps` (inside `concurrently` groups too).
fn first_definitions(steps: &[Step]) -> HashMap<(bool, String), Range<usize>> {
    let mut first_definitions = HashMap::new();
    let inner = steps.iter().flat_map(|step| match &step.action {
        Action::Concurrently(Concurrently(group)) => group.iter().collect(),
        _ => Vec::new(),
    });
    for step in steps.iter().chain(inner) {
        let definition = match &step.action {
            Action::Invite(invite) => Some((true, &invite.handle)),
            Action::Ticket(ticket) => Some((false, &ticket.handle)),
            _ => None,
        };
        if let Some((is_agreement, handle)) = definition {
            first_definitions
                .entry((is_agreement, handle.get_ref().clone()))
                .or_insert_with(|| handle.span());
        }
    }
    first_definitions
}

/// Names a place in a scenario file by its line.
fn file_line(scenario: &Scenario) -> impl Fn(&Range<usize>) -> String + '_ {
    move |span| format!("line {}", scenario.position(span).line)
}

impl<'a> Checker<'a> {
    fn for_file(scenario: &'a Scenario, place: &'a dyn Fn(&Range<usize>) -> String) -> Self {
        Checker {
            accounts: scenario
                .accounts
                .keys()
                .map(|name| name.get_ref().as_str())
                .collect(),
            externals: scenario
                .accounts
                .iter()
                .filter(|(_, account)| account.external.is_some())
                .map(|(name, _)| name.get_ref().as_str())
                .collect(),
            links: HashMap::new(),
            account_hint: "declare more with `[accounts.<subdomain>]`",
            place,
            agreements: IndexMap::new(),
            tickets: IndexMap::new(),
            first_definitions: first_definitions(&scenario.steps),
        }
    }

    fn check(mut self, scenario: &Scenario) -> Checked {
        for (subdomain, account) in &scenario.accounts {
            check_subdomain(subdomain)?;
            self.external_account(scenario, account)?;
            if let Some(from) = account.fault.as_ref().and_then(|rule| rule.from.as_ref()) {
                self.account(from)?;
                self.distinct_link(subdomain, from)?;
            }
            check_ticket_fields(&account.ticket_fields)?;
        }
        for step in &scenario.steps {
            self.step(step)?;
        }
        Ok(())
    }

    fn step(&mut self, step: &Step) -> Checked {
        match &step.action {
            Action::Invite(invite) => self.invite(invite),
            Action::Respond(respond) => {
                self.inside(&respond.account, "answer an invitation")?;
                self.handle(HandleKind::Agreement, &respond.agreement)
            }
            Action::Deactivate(target) | Action::Delete(target) => {
                self.inside(&target.account, "change or delete its copy of an agreement")?;
                self.handle(HandleKind::Agreement, &target.agreement)
            }
            Action::Resend(resend) => {
                self.optional_inside(resend.account.as_ref(), "re-send an invitation")?;
                self.handle(HandleKind::Agreement, &resend.agreement)
            }
            Action::Request(request) => self.request(step, request),
            Action::Wait(wait) => self.expectation(&wait.until),
            Action::Expect(expectation) => self.expectation(expectation),
            Action::Certificate(certificate) => self.account(&certificate.account),
            Action::Fault(fault) => self.fault_links(&fault.account, fault.rule.from.as_ref()),
            Action::Heal(heal) => self.fault_links(&heal.account, heal.from.as_ref()),
            Action::Stop(target) | Action::Start(target) | Action::Restart(target) => {
                self.inside(&target.account, "stop or start its listener")
            }
            Action::Ticket(ticket) => {
                self.inside(&ticket.account, "open a ticket")?;
                if let Some(source) = &ticket.follow_up {
                    self.handle(HandleKind::Ticket, source)?;
                }
                self.define(HandleKind::Ticket, &ticket.handle)
            }
            Action::Share(share) => {
                self.optional_inside(share.account.as_ref(), "share a ticket")?;
                self.handle(HandleKind::Ticket, &share.ticket)?;
                self.handle(HandleKind::Agreement, &share.agreement)
            }
            Action::Unshare(unshare) => {
                self.optional_inside(unshare.account.as_ref(), "unshare a ticket")?;
                self.handle(HandleKind::Ticket, &unshare.ticket)
            }
            Action::Comment(comment) => {
                self.inside(&comment.account, "comment on a ticket")?;
                self.handle(HandleKind::Ticket, &comment.ticket)
            }
            Action::SetStatus(set_status) => {
                self.inside(&set_status.account, "change a ticket's status")?;
                self.handle(HandleKind::Ticket, &set_status.ticket)
            }
            Action::Concurrently(Concurrently(group)) => self.group(group),
            Action::Hold(link) | Action::Duplicate(link) | Action::LoseReply(link) => {
                self.sent_link(&link.from, &link.to)
            }
            Action::Release(release) => self.release(release),
            Action::ExpectTicket(expect) => self.expect_ticket(expect),
        }
    }

    /// An invitation: from an account inside the process to another (declared or not).
    fn invite(&mut self, invite: &Invite) -> Checked {
        self.inside(&invite.from, "send an invitation")?;
        // The receiver need not be declared: inviting a subdomain that does not
        // exist is how a scenario shows `configuration_error`.
        check_subdomain(&invite.to)?;
        if invite.from.get_ref() == invite.to.get_ref() {
            return invalid(
                &invite.to,
                format!(
                    "an account cannot invite itself: `from` and `to` are both `{}`; \
                     invite another account",
                    invite.to.get_ref()
                ),
            );
        }
        self.links.insert(
            invite.handle.get_ref().clone(),
            (invite.from.get_ref().clone(), invite.to.get_ref().clone()),
        );
        self.define(HandleKind::Agreement, &invite.handle)
    }

    /// A raw REST call: `expect_status` and `expect_body` are given once, in the step or
    /// in its `request`.
    fn request(&self, step: &Step, request: &Request) -> Checked {
        self.inside(&request.account, "make a REST call")?;
        let twice = [
            (
                "expect_status",
                step.expect_status.is_some() && request.expect_status.is_some(),
            ),
            (
                "expect_body",
                step.expect_body.is_some() && request.expect_body.is_some(),
            ),
        ];
        match twice.into_iter().find(|(_, twice)| *twice) {
            Some((key, _)) => Err(Invalid {
                span: step.span.clone(),
                message: format!(
                    "`{key}` is given both in this step and inside its `request`; \
                     keep one of them"
                ),
            }),
            None => Ok(()),
        }
    }

    /// `fault` and `heal`: the account, and the one link into it from `from` if given.
    fn fault_links(&self, account: &Ref, from: Option<&Ref>) -> Checked {
        self.account(account)?;
        if let Some(from) = from {
            self.account(from)?;
            self.distinct_link(account, from)?;
        }
        Ok(())
    }

    /// `release`: a sent link, and either one chosen message (counting from 1) or an order.
    fn release(&self, release: &Release) -> Checked {
        self.sent_link(&release.from, &release.to)?;
        match &release.message {
            Some(message) if *message.get_ref() == 0 => Err(Invalid {
                span: message.span(),
                message: "messages on a link count from 1 (the oldest held); `message = 0` names none"
                    .to_string(),
            }),
            Some(message) if release.order.is_some() => Err(Invalid {
                span: message.span(),
                message: "`message` delivers one chosen message and `order` orders them all; give one of them"
                    .to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// `expect_ticket`: its handles, and no field checks on a ticket expected absent.
    fn expect_ticket(&self, expect: &ExpectTicket) -> Checked {
        self.inside(&expect.account, "read its copy of a ticket")?;
        self.handle(HandleKind::Ticket, &expect.ticket)?;
        if let Some(agreement) = &expect.shared_with
            && !agreement.get_ref().is_empty()
        {
            self.handle(HandleKind::Agreement, agreement)?;
        }
        let fields = expect.checked_fields();
        match &expect.absent {
            Some(absent) if *absent.get_ref() && !fields.is_empty() => Err(Invalid {
                span: absent.span(),
                message: format!(
                    "`absent = true` cannot be combined with {}: an absent ticket \
                     has no fields to check",
                    list(&fields)
                ),
            }),
            _ => Ok(()),
        }
    }

    fn expectation(&self, expectation: &Expectation) -> Checked {
        match expectation {
            Expectation::Agreement(check) => {
                self.inside(&check.account, "read its copy of an agreement")?;
                self.handle(HandleKind::Agreement, &check.agreement)
            }
            Expectation::Count(check) => self.inside(&check.account, "count its agreements"),
            Expectation::Divergence(agreement) => {
                self.handle(HandleKind::Agreement, agreement)?;
                self.both_copies_seen(agreement)
            }
            Expectation::Pair(check) => {
                self.handle(HandleKind::Agreement, &check.agreement)?;
                self.both_copies_seen(&check.agreement)
            }
            Expectation::InFlight(check) => self.sent_link(&check.from, &check.to),
        }
    }

    /// A `concurrently` group: actions only, each checked against the handles defined
    /// before the group (the order they run in is the seed's), defining theirs after it.
    fn group(&mut self, group: &[Step]) -> Checked {
        let before = (self.agreements.clone(), self.tickets.clone());
        let mut defined = Vec::new();
        for inner in group {
            let key = inner.action.key();
            if NOT_CONCURRENT.contains(&key) {
                return Err(Invalid {
                    span: inner.span.clone(),
                    message: format!(
                        "`{key}` cannot run inside `concurrently`: a group starts actions \
                         together; put checks in a step after the group (not allowed in a \
                         group: {})",
                        list(NOT_CONCURRENT)
                    ),
                });
            }
            self.agreements = before.0.clone();
            self.tickets = before.1.clone();
            self.step(inner)?;
            match &inner.action {
                Action::Invite(invite) => defined.push((HandleKind::Agreement, &invite.handle)),
                Action::Ticket(ticket) => defined.push((HandleKind::Ticket, &ticket.handle)),
                _ => {}
            }
        }
        self.agreements = before.0;
        self.tickets = before.1;
        for (kind, handle) in defined {
            self.define(kind, handle)?;
        }
        Ok(())
    }

    /// One direction of a link between two declared, distinct accounts.
    fn link(&self, from: &Ref, to: &Ref) -> Checked {
        self.account(from)?;
        self.account(to)?;
        if from.get_ref() == to.get_ref() {
            return invalid(
                to,
                format!(
                    "a link joins two accounts, but `from` and `to` are both `{}`; an \
                     account's messages to itself never cross the network",
                    to.get_ref()
                ),
            );
        }
        Ok(())
    }

    fn account(&self, reference: &Ref) -> Checked {
        if self.accounts.contains(&reference.get_ref().as_str()) {
            return Ok(());
        }
        invalid(
            reference,
            format!(
                "unknown account `{}`; the declared accounts are {} ({})",
                reference.get_ref(),
                list(&self.accounts),
                self.account_hint
            ),
        )
    }

    /// A link from an account to itself never goes over the network, so a fault on it
    /// would never fire.
    fn distinct_link(&self, account: &Ref, from: &Ref) -> Checked {
        if account.get_ref() == from.get_ref() {
            return invalid(
                from,
                format!(
                    "`from` is the faulty account itself (`{}`); name the partner whose calls \
                     into it should break, or omit `from` for every partner",
                    from.get_ref()
                ),
            );
        }
        Ok(())
    }

    fn defined(&self, kind: HandleKind) -> &IndexMap<String, Range<usize>> {
        match kind {
            HandleKind::Agreement => &self.agreements,
            HandleKind::Ticket => &self.tickets,
        }
    }

    fn place(&self, span: &Range<usize>) -> String {
        (self.place)(span)
    }

    fn define(&mut self, kind: HandleKind, handle: &Ref) -> Checked {
        let name = handle.get_ref();
        if name.is_empty() {
            return invalid(
                handle,
                format!(
                    "a {} handle cannot be empty; write e.g. `as = \"esc\"`",
                    kind.noun()
                ),
            );
        }
        if let Some(earlier) = self.defined(kind).get(name) {
            return invalid(
                handle,
                format!(
                    "the {} handle `{name}` is already defined at {}; give this one \
                     another name",
                    kind.noun(),
                    self.place(earlier)
                ),
            );
        }
        let (name, span) = (name.clone(), handle.span());
        let defined = match kind {
            HandleKind::Agreement => &mut self.agreements,
            HandleKind::Ticket => &mut self.tickets,
        };
        defined.insert(name, span);
        Ok(())
    }

    fn handle(&self, kind: HandleKind, reference: &Ref) -> Checked {
        let name = reference.get_ref();
        let defined = self.defined(kind);
        if defined.contains_key(name) {
            return Ok(());
        }
        let known: Vec<&str> = defined.keys().map(String::as_str).collect();
        let known = if known.is_empty() {
            "none".to_owned()
        } else {
            list(&known)
        };
        let noun = kind.noun();
        let later = self
            .first_definitions
            .get(&(matches!(kind, HandleKind::Agreement), name.clone()));
        let message = match later {
            Some(span) => format!(
                "the {noun} `{name}` is used before it is defined (by the `{}` at {}); \
                 {noun}s defined before this step: {known}",
                kind.defining_action(),
                self.place(span)
            ),
            None => format!(
                "unknown {noun} `{name}`; {noun}s defined before this step: {known} (define \
                 one with `{} = {{ ..., as = \"{name}\" }}`)",
                kind.defining_action()
            ),
        };
        invalid(reference, message)
    }
}

/// Each declared ticket field as the account would make it: titles unique, ids free,
/// options only on drop-downs.
fn check_ticket_fields(fields: &[crate::drivers::scenario::format::TicketFieldSpec]) -> Checked {
    use crate::core::model::ticket::fields::{TicketField, check_definition};
    let mut made: Vec<TicketField> = Vec::new();
    for (index, spec) in fields.iter().enumerate() {
        let definition = spec.definition();
        if let Err(why) = check_definition(&made, &definition) {
            return invalid(&spec.title, why);
        }
        made.push(TicketField {
            id: definition.id.unwrap_or(1_000_000 + index as u64),
            title: definition.title,
            field_type: definition.field_type,
            options: definition.options,
        });
    }
    Ok(())
}

fn check_subdomain(subdomain: &Ref) -> Checked {
    let name = subdomain.get_ref();
    let valid = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        return Ok(());
    }
    invalid(
        subdomain,
        format!(
            "`{name}` is not a valid subdomain; use 1 to 63 lower-case letters, digits or \
             `-` (`{SUBDOMAIN_PATTERN}`)"
        ),
    )
}

/// Checks a whole file's accounts and steps, handles in the order the file defines them.
pub(super) fn check_file(scenario: &Scenario) -> Checked {
    let place = file_line(scenario);
    check_scenario(scenario, &place)
}

/// The same checks, with `place` naming where a span is for messages.
pub(super) fn check_scenario(
    scenario: &Scenario,
    place: &dyn Fn(&Range<usize>) -> String,
) -> Checked {
    Checker::for_file(scenario, place).check(scenario)
}

/// Checks steps sent to a world that is already running (the control API of `serve`):
/// the same checks as a file's steps, against the world's accounts (`externals` among
/// them) and the handles earlier calls defined (agreements with their sender and receiver). `place` names where a span is, for messages ("step 2"); the
/// error is the offending span and the message.
pub(crate) fn check_live_steps(
    accounts: &[String],
    externals: &[String],
    agreements: &[(String, (String, String))],
    tickets: &[String],
    steps: &[Step],
    place: &dyn Fn(&Range<usize>) -> String,
) -> Result<(), (Range<usize>, String)> {
    let mut checker = Checker {
        accounts: accounts
            .iter()
            .chain(externals)
            .map(String::as_str)
            .collect(),
        externals: externals.iter().map(String::as_str).collect(),
        links: agreements.iter().cloned().collect(),
        account_hint: "the world's accounts are fixed when `serve` starts",
        place,
        agreements: IndexMap::new(),
        tickets: IndexMap::new(),
        first_definitions: first_definitions(steps),
    };
    // Handles from earlier calls have no span in these steps; usize::MAX marks them.
    let earlier = usize::MAX..usize::MAX;
    checker.agreements = agreements
        .iter()
        .map(|(h, _)| (h.clone(), earlier.clone()))
        .collect();
    checker.tickets = tickets
        .iter()
        .map(|h| (h.clone(), earlier.clone()))
        .collect();
    steps
        .iter()
        .try_for_each(|step| checker.step(step))
        .map_err(|invalid| (invalid.span, invalid.message))
}
