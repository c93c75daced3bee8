//! A copy of every partner message the world's accounts take from an account outside
//! the process, whole (headers and body) and with the answer it got. `sharesim conform`
//! grades an endpoint's own messages (its answers, its pushes) from these; nothing else
//! listens, and without a listener nothing is kept.

use crate::core::trace::lock;
use bytes::Bytes;
use std::sync::Mutex;
use tokio::sync::mpsc::UnboundedSender;

/// One message from an external account and what the receiving account answered.
#[derive(Clone, Debug)]
pub struct Inbound {
    /// The external account's name in this world.
    pub from: String,
    /// The account that received it.
    pub to: String,
    /// HTTP method.
    pub method: String,
    /// Path (and query) as received.
    pub path: String,
    /// Every header as received, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body as received.
    pub body: Bytes,
    /// The status the account answered (None: the connection was dropped unanswered).
    pub status: Option<u16>,
    /// The start of the answer's body.
    pub answer: String,
}

impl Inbound {
    /// A header's value, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Where copies of inbound messages go, when someone listens.
#[derive(Debug, Default)]
pub struct InboundTap {
    sender: Mutex<Option<UnboundedSender<Inbound>>>,
}

impl InboundTap {
    /// Sends every later message to `sender`.
    pub fn listen(&self, sender: UnboundedSender<Inbound>) {
        *lock(&self.sender) = Some(sender);
    }

    /// Whether anyone listens (so the recorder knows whether to keep a copy).
    pub fn is_listening(&self) -> bool {
        lock(&self.sender).is_some()
    }

    /// Hands a copy to the listener, if there is one.
    pub fn send(&self, inbound: Inbound) {
        if let Some(sender) = lock(&self.sender).as_ref() {
            let _ = sender.send(inbound);
        }
    }
}
