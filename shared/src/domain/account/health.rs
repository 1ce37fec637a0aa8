//! Whether the service can answer: the store must answer a read.

use crate::keys;
use crate::store::{StoreError, Table};

/// The release, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Reads one item no one has; any answer, even "not there", means the store is up.
pub async fn check(table: &dyn Table) -> Result<(), StoreError> {
    table.get(&keys::user(keys::NO_USER)).await.map(|_| ())
}
