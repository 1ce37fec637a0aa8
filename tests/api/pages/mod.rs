//! The hosted pages: sign-in, consent, sign-up and the pages mail links open.

mod account;
mod consent;
mod signin;
