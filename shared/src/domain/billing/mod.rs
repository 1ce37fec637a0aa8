//! Subscriptions paid in points (docs/architecture.md, "Subscriptions"). Admins define plans;
//! a user subscribes to one, paying the first period in the same atomic write that creates the
//! subscription; the renewals (a scheduled function on Lambda, a background task locally)
//! charge each later period exactly once, through the ledger.

pub mod plans;
pub mod renewals;
pub mod subscriptions;

pub use plans::Plan;
pub use subscriptions::{Subscription, SubscriptionStatus};
