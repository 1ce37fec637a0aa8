//! Accounts beyond signing in: profiles and their images, settings, push devices, other
//! users, the activity log, deleting
//! and disabling accounts, moving users in and out, health, and the API's OpenAPI description.

mod activity;
mod cross_user;
mod deletion;
mod devices;
mod directory;
mod disabling;
mod health;
mod images;
mod import_export;
mod openapi;
mod profile;
mod settings;
mod stream;

/// The fields of a public profile, whoever reads it.
const PROFILE_KEYS: &[&str] = &[
    "id",
    "username",
    "display_name",
    "bio",
    "avatar_url",
    "banner_url",
    "created_at",
];
