//! Fixed-window counters kept in the table (DESIGN.md §11), so limits hold across Lambda
//! instances. Subjects (addresses, emails) appear in keys only as hashes.

use crate::clock::Clock;
use crate::config::Limit;
use crate::crypto::hash_secret;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::store::{SharedTable, Update, TTL};
use std::sync::Arc;

#[derive(Clone)]
pub struct RateLimiter {
    table: SharedTable,
    clock: Arc<dyn Clock>,
}

struct Window {
    key: crate::store::Key,
    ends_at: i64,
}

impl RateLimiter {
    pub fn new(table: SharedTable, clock: Arc<dyn Clock>) -> Self {
        RateLimiter { table, clock }
    }

    fn window(&self, bucket: &str, subject: &str, limit: Limit) -> (Window, i64) {
        let now = self.clock.now().unix_timestamp();
        let secs = limit.window.as_secs().max(1) as i64;
        let start = now - now.rem_euclid(secs);
        let key = keys::rate_window(bucket, &hash_secret(subject), start);
        (
            Window {
                key,
                ends_at: start + secs,
            },
            now,
        )
    }

    /// Counts one request; refuses it with 429 once the window holds more than the limit.
    pub async fn hit(&self, bucket: &str, subject: &str, limit: Limit) -> ApiResult<()> {
        let count = self.record(bucket, subject, limit).await?;
        if count > i64::from(limit.limit) {
            let (window, now) = self.window(bucket, subject, limit);
            return Err(ApiError::TooManyRequests {
                retry_after: (window.ends_at - now).max(1) as u64,
            });
        }
        Ok(())
    }

    /// Refuses with 429 when the window already holds `limit` events, without counting.
    pub async fn check(&self, bucket: &str, subject: &str, limit: Limit) -> ApiResult<()> {
        let (window, now) = self.window(bucket, subject, limit);
        let count = self
            .table
            .get(&window.key)
            .await?
            .and_then(|item| item.get("count").and_then(|v| v.as_i64()))
            .unwrap_or(0);
        if count >= i64::from(limit.limit) {
            return Err(ApiError::TooManyRequests {
                retry_after: (window.ends_at - now).max(1) as u64,
            });
        }
        Ok(())
    }

    /// Counts one event and returns the window's count.
    pub async fn record(&self, bucket: &str, subject: &str, limit: Limit) -> ApiResult<i64> {
        let (window, _) = self.window(bucket, subject, limit);
        let item = self
            .table
            .update_returning(
                Update::new(window.key)
                    .add("count", 1)
                    .set(TTL, window.ends_at + 60),
            )
            .await?;
        Ok(item.get("count").and_then(|v| v.as_i64()).unwrap_or(1))
    }
}
