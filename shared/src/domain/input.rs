//! Validated input. Each newtype's `parse` is the only way to make one.

use crate::error::ApiError;

/// An email address, trimmed and lower-cased (the form used for uniqueness and lookup).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ApiError> {
        let email = raw.trim().to_lowercase();
        let invalid = || ApiError::field(field, "must be a valid email address");
        if email.is_empty()
            || email.len() > Self::MAX_LEN
            || email.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid());
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        // RFC 5322 dot-atom, ASCII only: what every mail provider (SES included) accepts as
        // one address, with nothing a header or an address list could split on.
        const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-.";
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c));
        let domain_ok = domain.len() >= 3
            && domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 3–30 characters: letters, digits and underscores, starting with a letter. Unique
/// regardless of case; the case the user chose is kept for display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let name = raw.trim();
        let len = name.chars().count();
        if !(3..=30).contains(&len) {
            return Err(ApiError::field("username", "must be 3 to 30 characters"));
        }
        if !name.starts_with(|c: char| c.is_ascii_alphabetic())
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(ApiError::field(
                "username",
                "may contain only letters, digits and underscores, and must start with a letter",
            ));
        }
        Ok(Username(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn lower(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A new password (OWASP ASVS V2.1): 8 to 128 characters, any characters, not one of the
/// most common passwords. The length cap also bounds hashing work.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;

/// Passwords refused outright: the most common ones in breach corpora that meet the length rule.
const COMMON_PASSWORDS: &[&str] = &[
    "12345678",
    "123456789",
    "1234567890",
    "password",
    "password1",
    "password123",
    "qwertyuiop",
    "iloveyou",
    "11111111",
    "00000000",
    "12341234",
    "abcd1234",
    "qwerty123",
    "1q2w3e4r",
    "1qaz2wsx",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "superman",
    "starwars",
    "trustno1",
    "passw0rd",
    "welcome1",
    "letmein1",
    "qwertyui",
    "asdfghjk",
    "zxcvbnm1",
    "88888888",
    "87654321",
    "11223344",
    "123123123",
    "987654321",
    "michelle",
    "jennifer",
    "whatever",
    "computer",
    "internet",
    "changeme",
    "p@ssw0rd",
    "p@ssword",
    "admin123",
];

impl Password {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ApiError> {
        let len = raw.chars().count();
        if len < PASSWORD_MIN {
            return Err(ApiError::field(
                field,
                format!("must be at least {PASSWORD_MIN} characters"),
            ));
        }
        if len > PASSWORD_MAX {
            return Err(ApiError::field(
                field,
                format!("must be at most {PASSWORD_MAX} characters"),
            ));
        }
        if raw.trim().is_empty() {
            return Err(ApiError::field(field, "must not be only spaces"));
        }
        if COMMON_PASSWORDS.contains(&raw.to_lowercase().as_str()) {
            return Err(ApiError::field(field, "is too common; choose another"));
        }
        Ok(Password(raw.to_string()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A password as typed at login: only the length cap applies (old passwords may predate rules).
pub fn login_password(raw: &str) -> Result<String, ApiError> {
    if raw.is_empty() || raw.chars().count() > PASSWORD_MAX {
        return Err(ApiError::field(
            "password",
            format!("must be 1 to {PASSWORD_MAX} characters"),
        ));
    }
    Ok(raw.to_string())
}

/// A second-factor code as typed: a 6-digit TOTP code or a recovery code.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl std::fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtpCode(…)")
    }
}

impl OtpCode {
    /// Any TOTP or recovery code.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ApiError> {
        let code = raw.trim();
        if code.is_empty() || code.len() > 32 {
            return Err(ApiError::field(
                field,
                "must be a 6-digit TOTP code or a recovery code",
            ));
        }
        Ok(OtpCode(code.to_string()))
    }

    /// A code from the authenticator app only (enabling TOTP proves the app has the secret).
    pub fn parse_totp(field: &'static str, raw: &str) -> Result<Self, ApiError> {
        let code = Self::parse(field, raw)?;
        if !crate::totp::looks_like_code(&code.0) {
            return Err(ApiError::field(
                field,
                "must be the 6-digit code from the authenticator app",
            ));
        }
        Ok(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A line of text: trimmed, `min..=max` characters, no control characters.
pub fn text(field: &'static str, raw: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let t = raw.trim();
    let len = t.chars().count();
    if len < min || len > max {
        return Err(ApiError::field(
            field,
            format!("must be {min} to {max} characters"),
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(t.to_string())
}

/// An `https://` URL (logos, web sites), at most 2048 characters.
pub fn https_url(field: &'static str, raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    let ok = t.len() <= 2048
        && url::Url::parse(t).is_ok_and(|u| {
            u.scheme() == "https"
                && u.host().is_some()
                && u.username().is_empty()
                && u.password().is_none()
        });
    if !ok {
        return Err(ApiError::field(field, "must be an https:// URL"));
    }
    Ok(t.to_string())
}

/// A redirect URI an app registers (RFC 6749 §3.1.2, RFC 8252 §7.3, RFC 9700 §4.1): absolute,
/// `https`, or `http` on a loopback address for native apps; no fragment, no user info. Kept
/// exactly as given: authorization compares strings, never normalized forms.
pub fn redirect_uri(field: &'static str, raw: &str) -> Result<String, ApiError> {
    let invalid = |why: &str| ApiError::field(field, format!("{raw:?}: {why}"));
    if raw.len() > 2048 || raw != raw.trim() {
        return Err(invalid(
            "must be a URL of at most 2048 characters without spaces",
        ));
    }
    let url = url::Url::parse(raw).map_err(|_| invalid("must be an absolute URL"))?;
    if raw.contains('#') {
        return Err(invalid("must not have a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry user information"));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(raw.to_string()),
        "http" if loopback => Ok(raw.to_string()),
        _ => Err(invalid("must be https (or http on a loopback address)")),
    }
}

/// An id of a user, an app, a session: a UUID.
pub fn id(field: &'static str, raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw.trim())
        .map(|u| u.to_string())
        .map_err(|_| ApiError::field(field, "must be an id"))
}

/// How many items a page of a list holds: `default` when not asked, else 1 to `max`.
pub fn page_limit(raw: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    match raw {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::field("limit", format!("must be 1 to {max}"))),
    }
}

/// Collects the field errors of several parses into one `validation_failed` answer, so a form
/// learns of every bad field at once.
#[derive(Default)]
pub struct FieldErrors(Vec<ApiError>);

impl FieldErrors {
    /// The value, or `None` after noting why not.
    pub fn take<T>(&mut self, parsed: Result<T, ApiError>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    /// `Ok` when nothing was wrong; else every field's reason (or the first error that is not
    /// about a field).
    pub fn finish(self) -> Result<(), ApiError> {
        let mut fields = std::collections::BTreeMap::new();
        for e in self.0 {
            match e {
                ApiError::Validation(f) => fields.extend(f),
                other => return Err(other),
            }
        }
        if fields.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(fields))
        }
    }
}

/// A single-use token from a mail link: base64url, bounded length.
pub fn token(field: &'static str, raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    if t.is_empty()
        || t.len() > 128
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::field(field, "is not a valid token"));
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("email", "  Ann@Example.COM ")
                .unwrap()
                .as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.io",
            "ann@x",
            "a b@x.io",
            "ann@x..io",
            "ann@.x.io",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("Ann_1").unwrap().lower(), "ann_1");
        for bad in ["ab", "1ann", "ann-1", "ann 1", &"a".repeat(31), "änn"] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_uris() {
        for good in [
            "https://app.example/cb",
            "https://app.example:8443/oauth/callback?x=1",
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "http://[::1]:9/cb",
        ] {
            assert_eq!(redirect_uri("r", good).unwrap(), good);
        }
        for bad in [
            "app.example/cb",
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "https://user@app.example/cb",
            "javascript:alert(1)",
            " https://app.example/cb",
            "http://localhost.evil/cb",
            "ftp://app.example/cb",
        ] {
            assert!(redirect_uri("r", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("password", "correct horse battery").is_ok());
        assert!(Password::parse("password", "short").is_err());
        assert!(Password::parse("password", &"x".repeat(129)).is_err());
        assert!(Password::parse("password", "Password123").is_err());
        assert!(Password::parse("password", "        ").is_err());
        assert!(Password::parse("password", "ünïcödé-pässwörd").is_ok());
    }
}
