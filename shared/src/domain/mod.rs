//! The rules of the domain, as typed repositories and workflows on top of the store, one
//! folder per bounded context. Handlers call these and never see keys or items; nothing here
//! knows about HTTP: requests arrive as plain values ([`RequestMeta`], validated input).

pub mod account;
pub mod activity;
pub mod ads;
pub mod app_sessions;
pub mod billing;
pub mod identity;
pub mod input;
pub mod ledger;
pub mod oauth;
pub mod webhooks;

use std::net::IpAddr;

/// What the domain needs to know about the request besides its input: who is calling from
/// where (rate limits, the session list).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The caller's address: API Gateway's source IP on Lambda, the socket peer locally.
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    /// The rate-limit subject for this caller's address.
    pub fn ip_subject(&self) -> String {
        self.ip
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "unknown".into())
    }
}
