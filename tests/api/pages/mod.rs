//! The hosted pages: sign-in, consent, sign-up and the pages mail links open.

mod consent;
mod openid;
mod signin;
