//! One at a time per key, within this process: a second caller with the same key waits
//! until the first is done. An optimisation only (each caller must stay correct alone, as
//! it is against other instances); it lets the second find the first's work done.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::OwnedMutexGuard;

#[derive(Debug, Clone, Default)]
pub(crate) struct Turns {
    waiting: Arc<Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>>,
}

/// A key's turn, held until dropped.
pub(crate) struct Turn {
    turns: Turns,
    key: i64,
    /// Whether another caller had the key first (what it did may be visible now).
    pub(crate) waited: bool,
    _held: OwnedMutexGuard<()>,
}

impl Turns {
    pub(crate) async fn take(&self, key: i64) -> Turn {
        let lock = Arc::clone(
            self.waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key)
                .or_default(),
        );
        let (held, waited) = match Arc::clone(&lock).try_lock_owned() {
            Ok(held) => (held, false),
            Err(_) => (lock.lock_owned().await, true),
        };
        Turn {
            turns: self.clone(),
            key,
            waited,
            _held: held,
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut waiting = self
            .turns
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The map's and this turn's references only: nobody waits, so the key leaves (a
        // waiter clones the lock under the map's mutex, so it would be counted here).
        if waiting
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 2)
        {
            waiting.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_second_caller_waits_for_the_first_and_the_key_is_forgotten_after() {
        let turns = Turns::default();
        let first = turns.take(7).await;
        assert!(!first.waited);
        let other_key = turns.take(8).await;
        assert!(!other_key.waited);
        drop(other_key);
        let second = {
            let turns = turns.clone();
            tokio::spawn(async move { turns.take(7).await.waited })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !second.is_finished(),
            "the second waits while the first holds the key"
        );
        drop(first);
        assert!(matches!(second.await, Ok(true)), "the second had waited");
        let forgotten = turns.waiting.lock().map(|waiting| waiting.is_empty());
        assert!(matches!(forgotten, Ok(true)), "no key is left behind");
    }
}
