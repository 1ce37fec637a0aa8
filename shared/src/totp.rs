//! TOTP (RFC 6238): SHA-1, 6 digits, 30-second steps, one step of drift either way — the
//! parameters every authenticator app supports. The step a code matched is returned so the
//! caller can refuse it a second time (replay protection).

use totp_rs::{Algorithm, Secret, TOTP};

use crate::crypto::constant_time_eq;

pub const DIGITS: usize = 6;
pub const STEP_SECONDS: u64 = 30;
const SKEW_STEPS: i64 = 1;

/// A new 160-bit secret, base32 without padding (what authenticator apps expect).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    match Secret::Raw(bytes.to_vec()).to_encoded() {
        Secret::Encoded(s) => s.trim_end_matches('=').to_string(),
        Secret::Raw(_) => unreachable!("to_encoded returns Encoded"),
    }
}

fn totp(secret_b32: &str, issuer: &str, account: &str) -> anyhow::Result<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|e| anyhow::anyhow!("TOTP secret: {e:?}"))?;
    // The label may not contain ':'; it only names the entry in the app.
    let account = account.replace(':', "_");
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECONDS,
        bytes,
        Some(issuer.to_string()),
        account,
    )
    .map_err(|e| anyhow::anyhow!("TOTP: {e}"))
}

/// `otpauth://totp/Issuer:account?secret=…&issuer=Issuer&algorithm=SHA1&digits=6&period=30`.
pub fn provisioning_uri(secret_b32: &str, issuer: &str, account: &str) -> anyhow::Result<String> {
    Ok(totp(secret_b32, issuer, account)?.get_url())
}

/// The code for a given time (tests and tools).
pub fn code_at(secret_b32: &str, unix_time: u64) -> anyhow::Result<String> {
    Ok(totp(secret_b32, "x", "x")?.generate(unix_time))
}

/// True when `code` has the shape of a TOTP code (six digits).
pub fn looks_like_code(code: &str) -> bool {
    code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// The time step `code` is valid for at `unix_time`, within the allowed drift.
pub fn matching_step(secret_b32: &str, code: &str, unix_time: i64) -> Option<i64> {
    if !looks_like_code(code) || unix_time < 0 {
        return None;
    }
    let t = totp(secret_b32, "x", "x").ok()?;
    let current = unix_time / STEP_SECONDS as i64;
    let mut found = None;
    // Check every candidate so the time taken does not depend on which one matches.
    for step in (current - SKEW_STEPS)..=(current + SKEW_STEPS) {
        if step < 0 {
            continue;
        }
        let expected = t.generate(step as u64 * STEP_SECONDS);
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_step_of_drift_and_no_more() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let code = code_at(&secret, now as u64).unwrap();
        assert_eq!(matching_step(&secret, &code, now), Some(now / 30));
        assert!(matching_step(&secret, &code, now + 30).is_some());
        assert!(matching_step(&secret, &code, now - 30).is_some());
        assert_eq!(matching_step(&secret, &code, now + 90), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
    }

    #[test]
    fn uri_is_standard() {
        let secret = new_secret();
        assert_eq!(secret.len(), 32);
        let uri = provisioning_uri(&secret, "Buddo", "ann@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Buddo:ann%40example.com?secret="),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={secret}")));
        assert!(uri.contains("issuer=Buddo"));
    }
}
