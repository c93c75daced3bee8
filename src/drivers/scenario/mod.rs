//! Scenario files: the typed tree (`format`), loading and checking it with positions in
//! every error (`parse`), and its JSON Schema (`schema`). Running scenarios is a separate
//! layer that only reads these types.

pub mod determinism;
pub mod format;
pub(crate) mod json_steps;
mod lines;
pub mod outcome;
pub(crate) mod parse;
pub mod run;
pub(crate) mod schema;

pub use format::{
    Account, AccountTarget, Action, AgreementCheck, AgreementStatus, AgreementTarget, Answer,
    CertMode, Certificate, Comment, CountCheck, CrashPoint, Direction, ExpectTicket, Expectation,
    ExpectedComment, Fault, FaultRule, Heal, Invite, Method, NewTicket, Position, Ref, Request,
    Resend, Respond, Scenario, SetStatus, Share, Step, Terms, TicketStatus, Unshare, User, Wait,
};
pub use parse::{ScenarioError, check_built, discover, load, parse, read_source};
pub use schema::json_schema;
