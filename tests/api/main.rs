//! The integration tests: one binary, every module runs on both store backends.

mod helpers;

mod auth;
mod mail;
mod store;
