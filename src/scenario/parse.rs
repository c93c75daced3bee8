//! Loading scenario files: TOML syntax and shape (via serde, see `format`), then the
//! checks serde cannot make (subdomains, account names, handles defined before use), all
//! before anything runs. Every refusal is a `ScenarioError` pointing at `file:line:col`
//! with a message saying what is wrong and what is allowed.

use crate::limits::{MAX_SCENARIO_BYTES, MAX_SCENARIO_STEPS};
use indexmap::IndexMap;
use std::collections::HashMap;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor::Ansi};

use super::format::{
    Action, Concurrently, Expectation, NOT_CONCURRENT, Position, Ref, SUBDOMAIN_PATTERN, Scenario,
    Step, list,
};

mod external;

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
    fn at(file: &str, source: &str, span: Range<usize>, message: String) -> ScenarioError {
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
    fn about_file(file: &Path, message: String) -> ScenarioError {
        ScenarioError {
            file: file.display().to_string(),
            line: 1,
            col: 1,
            message,
            span: None,
        }
    }

    fn from_toml(file: &str, source: &str, error: &toml::de::Error) -> ScenarioError {
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
fn key_levels(key: &str) -> usize {
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

/// Reads and checks one scenario file; errors name the file as `path` is written.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let source = read_source(path)?;
    parse(&source, &path.display().to_string())
}

/// Reads a scenario file's text, at most [`MAX_SCENARIO_BYTES`] (and one byte more, to
/// tell a larger file): `/dev/zero` or a runaway generated file is refused at once
/// instead of filling memory.
pub fn read_source(path: &Path) -> Result<String, ScenarioError> {
    use std::io::Read;
    let unreadable = |error: std::io::Error| {
        ScenarioError::about_file(path, format!("cannot read the scenario file: {error}"))
    };
    // Opening a FIFO waits for a writer, maybe for ever: refuse it before opening.
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(meta) = fs::metadata(path)
            && (meta.file_type().is_fifo() || meta.file_type().is_socket())
        {
            return Err(ScenarioError::about_file(
                path,
                "cannot read the scenario file: it is a FIFO or a socket, not a file".to_string(),
            ));
        }
    }
    let file = fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(MAX_SCENARIO_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(ScenarioError::about_file(
            path,
            format!(
                "the scenario file is larger than {} MiB, the most sharesim reads; split it into several files",
                MAX_SCENARIO_BYTES / (1024 * 1024)
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|error| {
        ScenarioError::about_file(
            path,
            format!(
                "the scenario file is not UTF-8 text (invalid byte at offset {})",
                error.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Parses and checks scenario text; `file_name` is only used in messages.
pub fn parse(source: &str, file_name: &str) -> Result<Scenario, ScenarioError> {
    let mut scenario: Scenario = toml::from_str(source)
        .map_err(|error| ScenarioError::from_toml(file_name, source, &error))?;
    if let Some(first_extra) = scenario.steps.get(MAX_SCENARIO_STEPS) {
        return Err(ScenarioError::at(
            file_name,
            source,
            first_extra.span.clone(),
            format!(
                "this scenario has {} steps; at most {MAX_SCENARIO_STEPS} are allowed, so split it into several files",
                scenario.steps.len()
            ),
        ));
    }
    scenario.locate(file_name, source);
    {
        let place = file_line(&scenario);
        Checker::for_file(&scenario, &place)
            .check(&scenario)
            .map_err(|invalid| {
                ScenarioError::at(file_name, source, invalid.span, invalid.message)
            })?;
    }
    Ok(scenario)
}

/// Checks a scenario built from values (`Scenario::built`) exactly as a file is
/// checked; its steps have no place in a file, so a refusal names the step's action.
pub fn check_built(mut scenario: Scenario, file_name: &str) -> Result<Scenario, ScenarioError> {
    scenario.locate(file_name, "");
    {
        let place = |_: &Range<usize>| "an earlier step".to_string();
        Checker::for_file(&scenario, &place)
            .check(&scenario)
            .map_err(|invalid| ScenarioError::at(file_name, "", invalid.span, invalid.message))?;
    }
    Ok(scenario)
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

/// Finds scenario files: files are taken as given, folders are searched recursively for
/// `*.toml` (symbolic links to folders are not followed). Sorted, without duplicates.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut found = Vec::new();
    for path in paths {
        let metadata = fs::metadata(path).map_err(|error| {
            ScenarioError::about_file(path, format!("cannot find scenarios here: {error}"))
        })?;
        if metadata.is_dir() {
            collect_toml_files(path, &mut found)?;
        } else {
            found.push(path.clone());
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn collect_toml_files(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let unreadable = |error: std::io::Error| {
        ScenarioError::about_file(dir, format!("cannot list the folder: {error}"))
    };
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let path = entry.path();
        if entry.file_type().map_err(unreadable)?.is_dir() {
            collect_toml_files(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            found.push(path);
        }
    }
    Ok(())
}

/// A check that failed, before it is tied to a file.
struct Invalid {
    span: Range<usize>,
    message: String,
}

type Checked = Result<(), Invalid>;

fn invalid(reference: &Ref, message: String) -> Checked {
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
struct Checker<'a> {
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
            external::check_account(scenario, account)?;
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
            Action::Invite(invite) => {
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
            Action::Request(request) => {
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
            Action::Wait(wait) => self.expectation(&wait.until),
            Action::Expect(expectation) => self.expectation(expectation),
            Action::Certificate(certificate) => self.account(&certificate.account),
            Action::Fault(fault) => {
                self.account(&fault.account)?;
                if let Some(from) = &fault.rule.from {
                    self.account(from)?;
                    self.distinct_link(&fault.account, from)?;
                }
                Ok(())
            }
            Action::Heal(heal) => {
                self.account(&heal.account)?;
                if let Some(from) = &heal.from {
                    self.account(from)?;
                    self.distinct_link(&heal.account, from)?;
                }
                Ok(())
            }
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
            Action::Release(release) => {
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
            Action::ExpectTicket(expect) => {
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
fn check_ticket_fields(fields: &[crate::scenario::format::TicketFieldSpec]) -> Checked {
    use crate::model::ticket::fields::{TicketField, check_definition};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::format::{AgreementStatus, Answer, Direction, Expectation, Method, User};

    /// The README's first example scenario (invite and accept), kept as a valid file so
    /// other tests use it too.
    const EXAMPLE: &str = include_str!("../../tests/valid/design_example.toml");

    #[test]
    fn keys_nested_past_the_recursion_limit_point_at_their_line() {
        let deep = vec!["k"; 100].join(".");
        for body in [format!("{deep} = 1\n"), format!("[{deep}]\n")] {
            let source = format!("name = \"deep\"\n[accounts.acme]\n\n{body}");
            let error = parse(&source, "deep.toml").expect_err("refused");
            assert_eq!((error.line, error.col), (4, 1), "{error}");
            assert!(error.message.contains("levels deep here"), "{error}");
        }
        assert_eq!(key_levels("a.\"b.c\".d"), 3);
    }

    #[test]
    fn the_design_example_parses_into_the_expected_tree() {
        let scenario = parse(EXAMPLE, "example.toml").unwrap();
        assert_eq!(scenario.name, "Receiver accepts; only the sender may share");
        assert!(
            scenario
                .description
                .as_deref()
                .unwrap()
                .starts_with("acme invites globex.")
        );
        assert_eq!(scenario.seed, Some(7));
        assert!(!scenario.tls);
        assert_eq!(scenario.retries, 0);
        let names: Vec<&str> = scenario
            .accounts
            .keys()
            .map(|k| k.get_ref().as_str())
            .collect();
        assert_eq!(names, ["acme", "globex"]);
        assert_eq!(
            scenario.account("acme").unwrap().display_name.as_deref(),
            Some("Acme")
        );
        assert!(scenario.account("globex").unwrap().start);
        assert_eq!(scenario.steps.len(), 5);

        let Action::Invite(invite) = &scenario.steps[0].action else {
            panic!("step 1 is not an invite: {:?}", scenario.steps[0].action);
        };
        assert_eq!(invite.from.get_ref(), "acme");
        assert_eq!(invite.to.get_ref(), "globex");
        assert_eq!(invite.handle.get_ref(), "esc");
        assert_eq!(invite.user, User::Admin);
        assert_eq!(
            scenario.position(&invite.handle.span()),
            Position { line: 14, col: 47 }
        );
        assert_eq!(
            scenario.steps[0].note.as_deref(),
            Some("acme's admin creates an outbound agreement; globex is sent an invitation.")
        );
        assert_eq!(scenario.steps[0].position, Position { line: 13, col: 1 });
        assert_eq!(scenario.step_line(0), Some(13));

        let Action::Expect(Expectation::Agreement(check)) = &scenario.steps[1].action else {
            panic!("step 2 is not an agreement check");
        };
        assert_eq!(check.account.get_ref(), "globex");
        assert_eq!(check.direction, Some(Direction::Inbound));
        assert_eq!(check.status, Some(AgreementStatus::Pending));
        assert_eq!(check.remote_subdomain.as_deref(), Some("acme"));
        assert!(!check.absent);

        let Action::Respond(respond) = &scenario.steps[2].action else {
            panic!("step 3 is not a respond");
        };
        assert_eq!(respond.status, Answer::Accepted);

        let step = &scenario.steps[4];
        let Action::Request(request) = &step.action else {
            panic!("step 5 is not a request");
        };
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.user, User::Agent);
        assert_eq!(request.path, "/api/v2/sharing_agreements.json");
        assert_eq!(
            request.body,
            Some(serde_json::json!({ "sharing_agreement": { "remote_subdomain": "acme" } }))
        );
        assert_eq!(step.expect_status, Some(403));
        assert_eq!(step.expected_status(), Some(403));
        assert_eq!(step.position, Position { line: 26, col: 1 });
        assert_eq!(scenario.step_line(4), Some(26));
        assert_eq!(
            scenario.position(&request.account.span()),
            Position { line: 27, col: 23 }
        );
        assert_eq!(scenario.step_line(5), None);
    }

    #[test]
    fn display_is_file_line_col_message() {
        let error = parse("name = 1\n", "x.toml").unwrap_err();
        assert_eq!(error.to_string(), format!("x.toml:1:8: {}", error.message));
    }

    #[test]
    fn render_puts_a_caret_under_the_column() {
        let source = "name = \"x\"\n[accounts.Acme]\n";
        let error = parse(source, "caret.toml").unwrap_err();
        assert_eq!((error.line, error.col), (2, 11));
        let rendered = error.render(source, false);
        assert!(rendered.contains("caret.toml:2:11"), "{rendered}");
        assert!(rendered.contains(&error.message), "{rendered}");
        let caret_line = rendered
            .lines()
            .find(|line| line.ends_with("^^^^"))
            .unwrap();
        let source_line = rendered
            .lines()
            .find(|line| line.contains("[accounts.Acme]"))
            .unwrap();
        let caret = caret_line.chars().position(|c| c == '^').unwrap();
        let underlined: String = source_line.chars().skip(caret).take(4).collect();
        assert_eq!(underlined, "Acme", "{rendered}");
        assert!(error.render(source, true).contains("\u{1b}["));
    }

    #[test]
    fn render_survives_a_mismatched_source() {
        let error = parse("name = \"x\"\n[accounts.Acme]\n", "f.toml").unwrap_err();
        for source in ["", "é", "a\nb"] {
            let _ = error.render(source, false);
        }
    }

    #[test]
    fn position_handles_any_offset() {
        assert_eq!(Position::of_offset("", 5), Position { line: 1, col: 1 });
        assert_eq!(
            Position::of_offset("é\nab", 1),
            Position { line: 1, col: 1 }
        );
        assert_eq!(
            Position::of_offset("é\nab", 4),
            Position { line: 2, col: 2 }
        );
    }

    #[test]
    fn nothing_panics_on_truncated_or_mangled_input() {
        for end in 0..EXAMPLE.len() {
            if let Some(prefix) = EXAMPLE.get(..end) {
                let _ = parse(prefix, "prefix.toml");
            }
        }
        for (i, c) in EXAMPLE.char_indices() {
            let mut mangled = EXAMPLE.to_owned();
            mangled.replace_range(i..i + c.len_utf8(), "\u{0}");
            let _ = parse(&mangled, "mangled.toml");
        }
    }
}
