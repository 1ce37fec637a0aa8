//! Accounts beyond signing in: the public profile, settings, finding other users, the activity
//! log, deleting an account, admins disabling one.

pub mod deletion;
pub mod directory;
pub mod health;
pub mod profile;
pub mod settings;
