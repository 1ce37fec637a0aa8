//! Fixed-window counters kept in the table (docs/architecture.md, "Abuse limits"), so limits
//! hold across Lambda instances. Subjects (addresses, emails) appear in keys only as hashes.
//!
//! Every count is one conditional increment (`count < limit`), so parallel requests can never
//! push a window past its limit: an attempt is reserved before the work it guards is done,
//! and a reservation that turns out not to be a failure is released again.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Limit;
use crate::crypto::hash_secret;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::store::{Cond, Key, SharedTable, StoreError, Update, WriteOp, TTL};

/// One counter: a bucket (what is counted), a subject (whose), and its limit.
#[derive(Clone, Copy, Debug)]
pub struct Counter<'a> {
    pub bucket: &'a str,
    pub subject: &'a str,
    pub limit: Limit,
}

impl<'a> Counter<'a> {
    pub fn new(bucket: &'a str, subject: &'a str, limit: Limit) -> Self {
        Counter {
            bucket,
            subject,
            limit,
        }
    }
}

/// The current window of a counter.
#[derive(Clone, Debug)]
pub struct Window {
    pub key: Key,
    pub ends_at: i64,
    limit: Limit,
}

impl Window {
    /// The increment that counts one event unless the window is full; put it in an atomic
    /// write, and map a failed condition on [`Window::key`] with [`Window::exceeded`].
    pub fn count_op(&self) -> WriteOp {
        Update::new(self.key.clone())
            .add("count", 1)
            .set(TTL, self.ends_at + 60)
            .when(Cond::attr_not_exists("count").or(Cond::lt("count", i64::from(self.limit.limit))))
            .into_op()
    }

    /// 429 with the seconds until this window ends.
    pub fn exceeded(&self, now: i64) -> ApiError {
        ApiError::TooManyRequests {
            retry_after: (self.ends_at - now).max(1) as u64,
        }
    }
}

/// Events counted by [`RateLimiter::reserve`]; give them back with [`RateLimiter::release`]
/// when the attempt turned out not to count (the password was right).
#[must_use]
#[derive(Debug, Default)]
pub struct Reservation {
    keys: Vec<Key>,
}

#[derive(Clone)]
pub struct RateLimiter {
    table: SharedTable,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    pub fn new(table: SharedTable, clock: Arc<dyn Clock>) -> Self {
        RateLimiter { table, clock }
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    pub fn window(&self, counter: Counter<'_>) -> Window {
        let now = self.now();
        let secs = counter.limit.window.as_secs().max(1) as i64;
        let start = now - now.rem_euclid(secs);
        Window {
            key: keys::rate_window(counter.bucket, &hash_secret(counter.subject), start),
            ends_at: start + secs,
            limit: counter.limit,
        }
    }

    /// Counts one event in `window`, or answers 429 when it is full.
    async fn count(&self, window: &Window) -> ApiResult<()> {
        match self.table.write(vec![window.count_op()]).await {
            Err(StoreError::ConditionFailed { key }) if key == window.key => {
                Err(window.exceeded(self.now()))
            }
            other => other.map_err(Into::into),
        }
    }

    /// Counts one request; refuses it with 429 once the window holds `limit` of them.
    pub async fn hit(&self, bucket: &str, subject: &str, limit: Limit) -> ApiResult<()> {
        self.count(&self.window(Counter::new(bucket, subject, limit)))
            .await
    }

    /// Reserves one event in every counter, or none: the counters are counted together (one
    /// round of calls), and when one is full the ones taken are given back and the answer is
    /// the 429 of the first full counter.
    pub async fn reserve(&self, counters: &[Counter<'_>]) -> ApiResult<Reservation> {
        let windows: Vec<Window> = counters.iter().map(|c| self.window(*c)).collect();
        let counted = futures::future::join_all(windows.iter().map(|w| self.count(w))).await;
        let mut taken = Reservation::default();
        let mut refused = None;
        for (window, result) in windows.into_iter().zip(counted) {
            match result {
                Ok(()) => taken.keys.push(window.key),
                Err(e) => {
                    refused.get_or_insert(e);
                }
            }
        }
        match refused {
            None => Ok(taken),
            Some(e) => {
                self.release(taken).await;
                Err(e)
            }
        }
    }

    /// Gives reserved events back. Losing one only makes a limit stricter for a while, so a
    /// failure is logged, not returned.
    pub async fn release(&self, reservation: Reservation) {
        let undo = reservation.keys.into_iter().map(|key| async move {
            let undo = Update::new(key).add("count", -1).when(Cond::Exists);
            if let Err(e) = self.table.write(vec![undo.into_op()]).await {
                tracing::warn!(error = %e, "releasing a rate-limit reservation");
            }
        });
        futures::future::join_all(undo).await;
    }
}
