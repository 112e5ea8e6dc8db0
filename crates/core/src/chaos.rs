//! Crash points for the crash tests. `ESCROW_CRASH_POINTS="name:probability,..."` makes
//! the process abort at the named points with that probability, e.g. between a gateway
//! call and the commit that records it. Unset (always, outside tests) it is one branch on a
//! value read once.

use std::sync::OnceLock;

static POINTS: OnceLock<Vec<(String, f64)>> = OnceLock::new();

fn points() -> &'static [(String, f64)] {
    POINTS.get_or_init(|| {
        std::env::var("ESCROW_CRASH_POINTS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|entry| {
                let (name, probability) = entry.trim().split_once(':')?;
                Some((name.to_string(), probability.parse().ok()?))
            })
            .collect()
    })
}

/// Aborts the process here with the configured probability.
pub fn crash_point(name: &str) {
    let points = points();
    if points.is_empty() {
        return;
    }
    if let Some((_, probability)) = points.iter().find(|(point, _)| point == name) {
        if rand::random::<f64>() < *probability {
            eprintln!("crash point {name}: aborting");
            std::process::abort();
        }
    }
}
