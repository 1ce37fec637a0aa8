//! The hosted pages: sign-in, consent, sign-up and the pages mail links open.

mod account;
mod browser;
mod consent;
mod openid;
mod passkeys;
mod providers;
mod rp;
mod signin;
