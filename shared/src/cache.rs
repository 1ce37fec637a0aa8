//! A small value one process keeps for a while before it reads it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Timed<T: Copy> {
    keep_for: Duration,
    slot: Mutex<Option<(Instant, T)>>,
}

impl<T: Copy> Timed<T> {
    pub fn new(keep_for: Duration) -> Self {
        Timed {
            keep_for,
            slot: Mutex::new(None),
        }
    }

    /// The value kept, unless it is older than `keep_for` (or there is none).
    pub fn fresh(&self) -> Option<T> {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.and_then(|(at, value)| (at.elapsed() < self.keep_for).then_some(value))
    }

    pub fn keep(&self, value: T) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), value));
    }

    /// Forgets the value: the next [`Timed::fresh`] misses.
    pub fn forget(&self) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_value_is_fresh_until_forgotten_or_old() {
        let cache = Timed::new(Duration::from_secs(60));
        assert_eq!(cache.fresh(), None);
        cache.keep(7u32);
        assert_eq!(cache.fresh(), Some(7));
        cache.forget();
        assert_eq!(cache.fresh(), None);
        let expired = Timed::new(Duration::ZERO);
        expired.keep(7u32);
        assert_eq!(expired.fresh(), None);
    }
}
