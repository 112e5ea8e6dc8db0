//! Logging a failure that repeats at every attempt (a full disk, an unreachable server)
//! without flooding the log.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// A failure that repeats at every tick is logged when it starts and then once a minute,
/// not at every attempt.
#[derive(Debug, Default)]
pub struct Trouble {
    warned_at: Option<Instant>,
}

impl Trouble {
    /// An attempt failed: a warning, unless one was given less than a minute ago. The error
    /// is written in its alternate form, which for an `anyhow::Error` is its whole chain.
    pub fn failed(&mut self, err: &dyn Display, what: &str) {
        if self
            .warned_at
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
        {
            tracing::warn!(error = %format_args!("{err:#}"), "{what}");
            self.warned_at = Some(Instant::now());
        }
    }

    /// Whether the last attempts failed.
    pub fn ongoing(&self) -> bool {
        self.warned_at.is_some()
    }

    /// An attempt succeeded; returns whether that ends a run of failures.
    pub fn over(&mut self) -> bool {
        self.warned_at.take().is_some()
    }
}
