//! Scenario steps as values: explore builds the scenario language's own [`Step`]s
//! (there is no second move type), reads back what a step names (accounts, handles),
//! and renders a step as the TOML a person would write, which it does only when it
//! writes a finding.

use crate::core::faults::Fault as WorldFault;
use crate::core::spelling::Spelled;
use crate::core::transport::scheduler::ReleaseOrder;
use crate::drivers::scenario::format::{
    AccountTarget, AgreementTarget, Concurrently, FieldValues, LinkTarget, Release,
};
use crate::drivers::scenario::{
    Action, Answer, CertMode, Certificate, Comment, Fault, FaultRule, Heal, Invite, NewTicket,
    Position, Ref, Resend, Respond, SetStatus, Share, Step, Terms, TicketStatus, Unshare, User,
};
use std::fmt::Write as _;

/// A reference as explore writes it (explore's values have no place in a file).
pub fn name(text: &str) -> Ref {
    Ref::new(0..0, text.to_string())
}

/// A step doing `action`, with no checks.
pub fn step(action: Action) -> Step {
    Step {
        action,
        note: None,
        expect_status: None,
        expect_error: None,
        expect_body: None,
        span: 0..0,
        position: Position::default(),
        in_group: false,
    }
}

/// `invite = { from, to, as, terms }`.
pub fn invite(from: &str, to: &str, handle: &str, terms: Terms) -> Step {
    step(Action::Invite(Invite {
        from: name(from),
        to: name(to),
        handle: name(handle),
        name: None,
        user: User::Admin,
        terms,
    }))
}

/// `respond = { account, agreement, status }`.
pub fn respond(account: &str, handle: &str, accept: bool) -> Step {
    step(Action::Respond(Respond {
        account: name(account),
        agreement: name(handle),
        status: if accept {
            Answer::Accepted
        } else {
            Answer::Declined
        },
        user: User::Admin,
    }))
}

fn agreement_target(account: &str, handle: &str) -> AgreementTarget {
    AgreementTarget {
        account: name(account),
        agreement: name(handle),
        user: User::Admin,
    }
}

/// `deactivate = { account, agreement }`.
pub fn deactivate(account: &str, handle: &str) -> Step {
    step(Action::Deactivate(agreement_target(account, handle)))
}

/// `delete = { account, agreement }`.
pub fn delete(account: &str, handle: &str) -> Step {
    step(Action::Delete(agreement_target(account, handle)))
}

/// `resend = { agreement }`.
pub fn resend(handle: &str) -> Step {
    step(Action::Resend(Resend {
        agreement: name(handle),
        account: None,
        user: User::Admin,
    }))
}

/// `fault = { account, from?, times?, <kind> }`.
pub fn fault(account: &str, from: Option<&str>, times: Option<u32>, kind: WorldFault) -> Step {
    step(Action::Fault(Fault {
        account: name(account),
        rule: FaultRule {
            from: from.map(name),
            times,
            fault: kind,
        },
    }))
}

/// `heal = { account }`.
pub fn heal(account: &str) -> Step {
    step(Action::Heal(Heal {
        account: name(account),
        from: None,
    }))
}

fn account_target(account: &str) -> AccountTarget {
    AccountTarget {
        account: name(account),
    }
}

/// `stop = { account }`.
pub fn stop(account: &str) -> Step {
    step(Action::Stop(account_target(account)))
}

/// `start = { account }`.
pub fn start(account: &str) -> Step {
    step(Action::Start(account_target(account)))
}

/// `restart = { account }`.
pub fn restart(account: &str) -> Step {
    step(Action::Restart(account_target(account)))
}

/// `certificate = { account, mode }`.
pub fn certificate(account: &str, mode: CertMode) -> Step {
    step(Action::Certificate(Certificate {
        account: name(account),
        mode,
    }))
}

/// `ticket = { account, as, subject, tags, custom_fields }`.
pub fn ticket(account: &str, handle: &str, tags: Vec<String>, fields: FieldValues) -> Step {
    step(Action::Ticket(NewTicket {
        account: name(account),
        handle: name(handle),
        subject: format!("ticket {handle}"),
        description: None,
        status: None,
        tags,
        custom_fields: fields,
        custom_status: None,
        follow_up: None,
        user: User::Admin,
    }))
}

/// `share = { ticket, agreement, account? }` (an account re-shares its received copy).
pub fn share(ticket: &str, handle: &str, account: Option<&str>) -> Step {
    step(Action::Share(Share {
        ticket: name(ticket),
        agreement: name(handle),
        account: account.map(name),
    }))
}

/// `unshare = { ticket, account? }`.
pub fn unshare(ticket: &str, account: Option<&str>) -> Step {
    step(Action::Unshare(Unshare {
        ticket: name(ticket),
        account: account.map(name),
    }))
}

/// `comment = { account, ticket, body, public }`.
pub fn comment(account: &str, ticket: &str, body: &str, public: bool) -> Step {
    step(Action::Comment(Comment {
        account: name(account),
        ticket: name(ticket),
        body: body.to_string(),
        public,
        html_body: None,
        attachments: Vec::new(),
        user: User::Admin,
        safe_update: false,
    }))
}

/// `set_status = { account, ticket, status }`.
pub fn set_status(account: &str, ticket: &str, status: TicketStatus) -> Step {
    step(Action::SetStatus(SetStatus {
        account: name(account),
        ticket: name(ticket),
        status,
        custom_status: None,
        user: User::Admin,
        safe_update: false,
    }))
}

fn link(from: &str, to: &str) -> LinkTarget {
    LinkTarget {
        from: name(from),
        to: name(to),
    }
}

/// `hold = { from, to }`.
pub fn hold(from: &str, to: &str) -> Step {
    step(Action::Hold(link(from, to)))
}

/// `release = { from, to, order }`.
pub fn release(from: &str, to: &str, order: ReleaseOrder) -> Step {
    step(Action::Release(Release {
        from: name(from),
        to: name(to),
        order: Some(order),
        message: None,
    }))
}

/// `duplicate = { from, to }`.
pub fn duplicate(from: &str, to: &str) -> Step {
    step(Action::Duplicate(link(from, to)))
}

/// `lose_reply = { from, to }`.
pub fn lose_reply(from: &str, to: &str) -> Step {
    step(Action::LoseReply(link(from, to)))
}

/// `concurrently = [ … ]`.
pub fn concurrently(group: Vec<Step>) -> Step {
    step(Action::Concurrently(Concurrently(group)))
}

/// The steps of a group, or the step itself.
pub fn flat(step: &Step) -> Vec<&Step> {
    match &step.action {
        Action::Concurrently(Concurrently(group)) => group.iter().collect(),
        _ => vec![step],
    }
}

/// Every account a step names (inside a group too).
pub fn accounts<'s>(step: &'s Step) -> Vec<&'s str> {
    let mut out: Vec<&str> = Vec::new();
    let mut add = |r: &'s Ref| out.push(r.get_ref().as_str());
    match &step.action {
        Action::Invite(i) => {
            add(&i.from);
            add(&i.to);
        }
        Action::Respond(r) => add(&r.account),
        Action::Deactivate(t) | Action::Delete(t) => add(&t.account),
        Action::Resend(r) => r.account.iter().for_each(add),
        Action::Certificate(c) => add(&c.account),
        Action::Fault(f) => {
            add(&f.account);
            f.rule.from.iter().for_each(add);
        }
        Action::Heal(h) => {
            add(&h.account);
            h.from.iter().for_each(add);
        }
        Action::Stop(t) | Action::Start(t) | Action::Restart(t) => add(&t.account),
        Action::Ticket(t) => add(&t.account),
        Action::Share(s) => s.account.iter().for_each(add),
        Action::Unshare(u) => u.account.iter().for_each(add),
        Action::Comment(c) => add(&c.account),
        Action::SetStatus(s) => add(&s.account),
        Action::Hold(l) | Action::Duplicate(l) | Action::LoseReply(l) => {
            add(&l.from);
            add(&l.to);
        }
        Action::Release(r) => {
            add(&r.from);
            add(&r.to);
        }
        Action::Concurrently(Concurrently(group)) => {
            return group.iter().flat_map(accounts).collect();
        }
        Action::Request(_) | Action::Wait(_) | Action::Expect(_) | Action::ExpectTicket(_) => {}
    }
    out
}

/// The agreement and ticket handles a step uses (not those it defines).
pub fn handles_used(step: &Step) -> (Vec<&str>, Vec<&str>) {
    let mut agreements = Vec::new();
    let mut tickets = Vec::new();
    for inner in flat(step) {
        match &inner.action {
            Action::Respond(r) => agreements.push(r.agreement.get_ref().as_str()),
            Action::Deactivate(t) | Action::Delete(t) => {
                agreements.push(t.agreement.get_ref().as_str())
            }
            Action::Resend(r) => agreements.push(r.agreement.get_ref().as_str()),
            Action::Share(s) => {
                agreements.push(s.agreement.get_ref().as_str());
                tickets.push(s.ticket.get_ref().as_str());
            }
            Action::Unshare(u) => tickets.push(u.ticket.get_ref().as_str()),
            Action::Comment(c) => tickets.push(c.ticket.get_ref().as_str()),
            Action::SetStatus(s) => tickets.push(s.ticket.get_ref().as_str()),
            _ => {}
        }
    }
    (agreements, tickets)
}

/// The agreement and ticket handles a step defines.
pub fn handles_defined(step: &Step) -> (Vec<&str>, Vec<&str>) {
    let mut agreements = Vec::new();
    let mut tickets = Vec::new();
    for inner in flat(step) {
        match &inner.action {
            Action::Invite(i) => agreements.push(i.handle.get_ref().as_str()),
            Action::Ticket(t) => tickets.push(t.handle.get_ref().as_str()),
            _ => {}
        }
    }
    (agreements, tickets)
}

/// A TOML basic string.
pub fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// An inline table being written: `{ key = value, … }`.
#[derive(Default)]
struct Inline(Vec<String>);

impl Inline {
    fn raw(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.0.push(format!("{key} = {value}"));
        self
    }

    fn text(self, key: &str, value: &str) -> Self {
        self.raw(key, quote(value))
    }

    fn name(self, key: &str, value: &Ref) -> Self {
        self.text(key, value.get_ref())
    }

    fn maybe(self, key: &str, value: &Option<Ref>) -> Self {
        match value {
            Some(value) => self.name(key, value),
            None => self,
        }
    }

    fn done(self) -> String {
        format!("{{ {} }}", self.0.join(", "))
    }
}

fn terms_table(terms: &Terms) -> Option<String> {
    let mut table = Inline::default();
    for (key, value) in terms.set() {
        table = table.raw(key, value);
    }
    (!table.0.is_empty()).then(|| table.done())
}

fn json_as_toml(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => quote(text),
        serde_json::Value::Bool(_) | serde_json::Value::Number(_) => value.to_string(),
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(json_as_toml).collect();
            format!("[{}]", items.join(", "))
        }
        other => quote(&other.to_string()),
    }
}

/// The action's inline table, e.g. `{ from = "acme", to = "globex", as = "a1" }`; None
/// for an action explore never draws.
fn table(action: &Action) -> Option<String> {
    let t = Inline::default();
    Some(match action {
        Action::Invite(i) => {
            let mut t = t
                .name("from", &i.from)
                .name("to", &i.to)
                .name("as", &i.handle);
            if let Some(terms) = terms_table(&i.terms) {
                t = t.raw("terms", terms);
            }
            t.done()
        }
        Action::Respond(r) => t
            .name("account", &r.account)
            .name("agreement", &r.agreement)
            .text("status", r.status.as_str())
            .done(),
        Action::Deactivate(a) | Action::Delete(a) => t
            .name("account", &a.account)
            .name("agreement", &a.agreement)
            .done(),
        Action::Resend(r) => t
            .name("agreement", &r.agreement)
            .maybe("account", &r.account)
            .done(),
        Action::Certificate(c) => t
            .name("account", &c.account)
            .text("mode", c.mode.spelling())
            .done(),
        Action::Fault(f) => {
            let mut t = t.name("account", &f.account).maybe("from", &f.rule.from);
            if let Some(times) = f.rule.times {
                t = t.raw("times", times);
            }
            t.0.push(f.rule.fault.toml());
            t.done()
        }
        Action::Heal(h) => t.name("account", &h.account).maybe("from", &h.from).done(),
        Action::Stop(a) | Action::Start(a) | Action::Restart(a) => {
            t.name("account", &a.account).done()
        }
        Action::Ticket(n) => {
            let mut t = t
                .name("account", &n.account)
                .name("as", &n.handle)
                .text("subject", &n.subject);
            if !n.tags.is_empty() {
                let tags: Vec<String> = n.tags.iter().map(|tag| quote(tag)).collect();
                t = t.raw("tags", format!("[{}]", tags.join(", ")));
            }
            if !n.custom_fields.is_empty() {
                let mut fields = Inline::default();
                for (title, value) in &n.custom_fields {
                    fields = fields.raw(&quote(title), json_as_toml(value));
                }
                t = t.raw("custom_fields", fields.done());
            }
            t.done()
        }
        Action::Share(s) => t
            .name("ticket", &s.ticket)
            .name("agreement", &s.agreement)
            .maybe("account", &s.account)
            .done(),
        Action::Unshare(u) => t
            .name("ticket", &u.ticket)
            .maybe("account", &u.account)
            .done(),
        Action::Comment(c) => {
            let t = t
                .name("account", &c.account)
                .name("ticket", &c.ticket)
                .text("body", &c.body);
            if c.public { t } else { t.raw("public", false) }.done()
        }
        Action::SetStatus(s) => t
            .name("account", &s.account)
            .name("ticket", &s.ticket)
            .text("status", s.status.spelling())
            .done(),
        Action::Hold(l) | Action::Duplicate(l) | Action::LoseReply(l) => {
            t.name("from", &l.from).name("to", &l.to).done()
        }
        Action::Release(r) => {
            let mut t = t.name("from", &r.from).name("to", &r.to);
            if let Some(order) = r.order {
                t = t.text("order", order.spelling());
            }
            if let Some(message) = &r.message {
                t = t.raw("message", message.get_ref());
            }
            t.done()
        }
        Action::Concurrently(Concurrently(group)) => {
            let inner: Vec<String> = group
                .iter()
                .map(|s| {
                    let mut line = format!("{{ {}", line(s)?);
                    if let Some(status) = s.expect_status {
                        let _ = write!(line, ", expect_status = {status}");
                    }
                    line.push_str(" }");
                    Some(line)
                })
                .collect::<Option<_>>()?;
            format!("[ {} ]", inner.join(", "))
        }
        Action::Request(_) | Action::Wait(_) | Action::Expect(_) | Action::ExpectTicket(_) => {
            return None;
        }
    })
}

/// The step's action as one TOML line, e.g. `invite = { … }`.
pub fn line(step: &Step) -> Option<String> {
    Some(format!("{} = {}", step.action.key(), table(&step.action)?))
}

/// The step as a `[[steps]]` table body: note, action, expected status.
pub fn render(step: &Step) -> String {
    let mut text = String::new();
    if let Some(note) = &step.note {
        let _ = writeln!(text, "note = {}", quote(note));
    }
    let action = line(step).unwrap_or_else(|| {
        format!(
            "note = {}",
            quote(&format!(
                "a `{}` step explore cannot write",
                step.action.key()
            ))
        )
    });
    let _ = writeln!(text, "{action}");
    if let Some(status) = step.expect_status {
        let _ = writeln!(text, "expect_status = {status}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::scenario::CrashPoint;

    #[test]
    fn steps_render_as_a_person_writes_them_and_parse_back_the_same() {
        let mut fields = FieldValues::new();
        fields.insert("Region".into(), serde_json::json!("north"));
        let steps = [
            invite(
                "acme",
                "globex",
                "a1",
                Terms {
                    sync_status: Some(true),
                    ..Terms::default()
                },
            ),
            respond("globex", "a1", false),
            fault("globex", Some("acme"), Some(1), WorldFault::Status(503)),
            fault(
                "acme",
                None,
                None,
                WorldFault::Crash(CrashPoint::AfterStore),
            ),
            ticket("acme", "t1", vec!["vip".into()], fields),
            share("t1", "a1", Some("globex")),
            comment("globex", "t1", "comment 1", false),
            set_status("acme", "t1", TicketStatus::Solved),
            release("acme", "globex", ReleaseOrder::Reverse),
            concurrently(vec![
                respond("globex", "a1", true),
                deactivate("acme", "a1"),
            ]),
        ];
        let lines: Vec<String> = steps.iter().map(|s| line(s).unwrap()).collect();
        assert_eq!(
            lines,
            [
                "invite = { from = \"acme\", to = \"globex\", as = \"a1\", terms = { sync_status = true } }",
                "respond = { account = \"globex\", agreement = \"a1\", status = \"declined\" }",
                "fault = { account = \"globex\", from = \"acme\", times = 1, status = 503 }",
                "fault = { account = \"acme\", crash = \"after_store\" }",
                "ticket = { account = \"acme\", as = \"t1\", subject = \"ticket t1\", tags = [\"vip\"], custom_fields = { \"Region\" = \"north\" } }",
                "share = { ticket = \"t1\", agreement = \"a1\", account = \"globex\" }",
                "comment = { account = \"globex\", ticket = \"t1\", body = \"comment 1\", public = false }",
                "set_status = { account = \"acme\", ticket = \"t1\", status = \"solved\" }",
                "release = { from = \"acme\", to = \"globex\", order = \"reverse\" }",
                "concurrently = [ { respond = { account = \"globex\", agreement = \"a1\", status = \"accepted\" } }, { deactivate = { account = \"acme\", agreement = \"a1\" } } ]",
            ]
        );
        let mut text = String::from(
            "name = \"x\"\n[accounts.acme]\nticket_fields = [{ title = \"Region\", type = \"text\" }]\n[accounts.globex]\n",
        );
        for step in &steps {
            let _ = write!(text, "\n[[steps]]\n{}", render(step));
        }
        let parsed =
            crate::drivers::scenario::parse(&text, "x.toml").unwrap_or_else(|e| panic!("{e}"));
        let again: Vec<String> = parsed.steps.iter().map(|s| line(s).unwrap()).collect();
        assert_eq!(again, lines);
    }

    #[test]
    fn a_step_says_which_accounts_and_handles_it_names() {
        let group = concurrently(vec![
            comment("globex", "t1", "c", true),
            share("t2", "a2", None),
        ]);
        assert_eq!(accounts(&group), ["globex"]);
        assert_eq!(handles_used(&group), (vec!["a2"], vec!["t1", "t2"]));
        let made = invite("acme", "globex", "a1", Terms::default());
        assert_eq!(handles_defined(&made), (vec!["a1"], vec![]));
        assert_eq!(accounts(&made), ["acme", "globex"]);
    }
}
