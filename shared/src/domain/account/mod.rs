//! Accounts beyond signing in: the public profile and its images, settings, push devices,
//! finding other users, the activity log, deleting an account, admins disabling one, taking
//! an account back after an email change.

pub mod deletion;
pub mod devices;
pub mod directory;
pub mod health;
#[cfg(feature = "images")]
pub mod images;
pub mod profile;
pub mod recovery;
pub mod settings;
