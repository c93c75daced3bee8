//! Rules the simulator breaks on purpose, so that a test can prove a checker (the
//! explorer's invariants) catches a real violation. Every switch is off in every world
//! unless a test turns it on at run time through `RunSettings::planted_bugs`; no
//! command-line flag, scenario key or environment variable reaches them.

use std::sync::atomic::{AtomicBool, Ordering};

/// Which rules to break. Plain data, off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlantedBugs {
    /// A receiver stores a repeated invitation (same uuid and key) as a second copy
    /// instead of recognising the one it holds.
    pub store_repeated_invitations: bool,
    /// A receiver stores a comment it already holds (same uuid) once more when an
    /// update repeats it.
    pub store_repeated_comments: bool,
}

/// The world's switches, read by accounts while they handle messages.
#[derive(Debug, Default)]
pub struct PlantedSwitches {
    store_repeated_invitations: AtomicBool,
    store_repeated_comments: AtomicBool,
}

impl PlantedSwitches {
    /// Turns the given bugs on (or off) for the rest of the world's life.
    pub fn set(&self, bugs: PlantedBugs) {
        self.store_repeated_invitations
            .store(bugs.store_repeated_invitations, Ordering::Relaxed);
        self.store_repeated_comments
            .store(bugs.store_repeated_comments, Ordering::Relaxed);
    }

    /// Whether a receiver must store a repeated invitation twice.
    pub fn store_repeated_invitations(&self) -> bool {
        self.store_repeated_invitations.load(Ordering::Relaxed)
    }
}

impl PlantedSwitches {
    /// Whether a receiver must store a repeated comment twice.
    pub fn store_repeated_comments(&self) -> bool {
        self.store_repeated_comments.load(Ordering::Relaxed)
    }
}
