//! The economy's invariants under attack: who can mint, move and stop points
//! (docs/architecture.md, "What the economy keeps").

mod activity_filter;
mod ad_targeting;
mod admin_self;
mod app_stop;
mod client_auth;
mod codes;
mod consent;
mod idempotency;
mod input;
mod minting;
mod referrals;
mod success_limits;
