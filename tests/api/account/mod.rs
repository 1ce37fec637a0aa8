//! Accounts beyond signing in: profiles, settings, other users, the activity log, deleting
//! and disabling accounts, health, and the API's OpenAPI description.

mod activity;
mod costs;
mod cross_user;
mod deletion;
mod directory;
mod disabling;
mod health;
mod openapi;
mod profile;
mod settings;
