//! The integration tests: one binary, every module runs on both store backends.

mod helpers;

mod account;
mod auth;
mod billing;
mod browser_smoke;
mod cli;
mod config;
mod costs;
mod deadlines;
mod economy;
mod events;
mod layers;
mod mail;
mod oauth;
mod operator;
mod pages;
mod readme;
mod smoke;
mod store;
mod webhooks;
