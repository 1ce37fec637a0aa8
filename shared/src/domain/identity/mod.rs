//! Identity: accounts, login sessions, second factors and trusted devices, mail tokens and
//! the limits on guessing credentials; users moved in and out.

pub mod accounts;
pub mod attempts;
pub mod mail_tokens;
pub mod mfa;
#[cfg(feature = "passkeys")]
pub mod passkeys;
pub mod referrals;
pub mod sessions;
pub mod social;
pub mod transfer;
pub mod trusted_devices;
pub mod usernames;
pub mod users;

pub use sessions::Authenticated;
pub use users::User;
