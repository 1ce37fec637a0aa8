//! Validated input. Each newtype's `parse` is the only way to make one.

use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};
use crate::store::{self, Query, StoreError, Table};

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

/// A number of points as sent: a whole JSON number (not a string, not a fraction) within the
/// bounds of its use, never beyond [`Amount::MAX`] either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount(i64);

impl Amount {
    /// The most points one movement, grant or budget can be.
    pub const MAX: i64 = 1_000_000_000;

    /// What a spend or a transfer moves: 1 to [`Amount::MAX`].
    pub fn parse(field: &'static str, raw: &serde_json::Value) -> Result<Self, ApiError> {
        Self::at_least(field, raw, 1)
    }

    /// `min` to [`Amount::MAX`] (a budget, a payout rate).
    pub fn at_least(
        field: &'static str,
        raw: &serde_json::Value,
        min: i64,
    ) -> Result<Self, ApiError> {
        match raw.as_i64() {
            Some(n) if (min..=Self::MAX).contains(&n) => Ok(Amount(n)),
            _ => Err(ApiError::field(
                field,
                format!("must be a whole number from {min} to {}", Self::MAX),
            )),
        }
    }

    /// An admin's adjustment: a grant (positive) or a deduction (negative), never zero.
    pub fn adjustment(field: &'static str, raw: &serde_json::Value) -> Result<Self, ApiError> {
        match raw.as_i64() {
            Some(n) if n != 0 && n.abs() <= Self::MAX => Ok(Amount(n)),
            _ => Err(ApiError::field(
                field,
                format!(
                    "must be a non-zero whole number from -{max} to {max}",
                    max = Self::MAX
                ),
            )),
        }
    }

    pub fn get(self) -> i64 {
        self.0
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

/// Unicode general category Cf (format characters; Unicode 16): invisible characters that
/// change how text around them is shown — bidi overrides and isolates, zero-width spaces and
/// joiners, the soft hyphen, the byte-order mark, tag characters. Inclusive ranges.
const FORMAT_CHARS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// A format character (general category Cf): see [`FORMAT_CHARS`].
pub fn is_format_char(c: char) -> bool {
    FORMAT_CHARS.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Text as typed (names, descriptions, bios, reasons): trimmed, `min..=max` characters, no
/// control characters but line breaks, and no format characters (Unicode Cf: bidi controls,
/// zero-width and other invisible characters), which could make one name pass for another or
/// reorder what a reader sees around it.
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
    if t.chars().any(is_format_char) {
        return Err(ApiError::field(
            field,
            "must not contain invisible formatting characters (bidi controls, zero-width characters)",
        ));
    }
    Ok(t.to_string())
}

/// A host an `https` URL shown to others must not point at: this machine, a private or
/// link-local network, or no address at all (`localhost` and `*.localhost`; loopback,
/// private, shared, link-local, unspecified and broadcast address literals; the same IPv4
/// addresses mapped into IPv6; unique-local IPv6).
fn is_local_host(host: &url::Host<&str>) -> bool {
    use std::net::{Ipv4Addr, Ipv6Addr};
    fn v4(ip: Ipv4Addr) -> bool {
        let [a, b, ..] = ip.octets();
        ip.is_loopback()
            || ip.is_private()
            || ip.is_link_local()
            || ip.is_broadcast()
            || a == 0 // 0.0.0.0/8: "this network", 0.0.0.0 unspecified
            || (a == 100 && (64..128).contains(&b)) // 100.64/10: shared (carrier-grade NAT)
    }
    fn v6(ip: Ipv6Addr) -> bool {
        let first = ip.segments()[0];
        ip.is_loopback()
            || ip.is_unspecified()
            || (first & 0xfe00) == 0xfc00 // fc00::/7 unique local
            || (first & 0xffc0) == 0xfe80 // fe80::/10 link-local
            || ip.to_ipv4_mapped().is_some_and(v4)
    }
    match host {
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => v4(*ip),
        url::Host::Ipv6(ip) => v6(*ip),
    }
}

/// An `https://` URL (avatars, banners, logos, web sites), at most 2048 characters. Kept as
/// the URL parser serialises it, so characters that could break out of an HTML attribute or
/// a JSON string (`"`, `<`, `>`, spaces) arrive percent-encoded. Hosts on this machine or a
/// private network are refused: these URLs are fetched by browsers and by anything that
/// renders a profile or an app.
pub fn https_url(field: &'static str, raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    let parsed = (t.len() <= 2048)
        .then(|| url::Url::parse(t).ok())
        .flatten()
        .filter(|u| {
            u.scheme() == "https"
                && u.host().is_some()
                && u.username().is_empty()
                && u.password().is_none()
        });
    let Some(url) = parsed else {
        return Err(ApiError::field(field, "must be an https:// URL"));
    };
    if url.host().is_some_and(|h| is_local_host(&h)) {
        return Err(ApiError::field(
            field,
            "must not point at localhost or a private, link-local or unspecified address",
        ));
    }
    let serialised = url.to_string();
    if serialised.len() > 2048 {
        return Err(ApiError::field(field, "must be at most 2048 characters"));
    }
    Ok(serialised)
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

/// One page of a list, decoded, with the cursor of the next page when more may follow.
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A cursor the store refuses came from another list (or was made up): a 400 on `cursor`.
pub fn bad_cursor(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid(_) => ApiError::field("cursor", "is not a cursor of this list"),
        other => other.into(),
    }
}

/// One page of `query` (its limit and cursor set by the caller), decoded.
pub async fn page<T: DeserializeOwned>(table: &dyn Table, query: &Query) -> ApiResult<Listing<T>> {
    let page = table.query(query).await.map_err(bad_cursor)?;
    Ok(Listing {
        items: page
            .items
            .into_iter()
            .map(store::from_item)
            .collect::<Result<_, _>>()?,
        next_cursor: page.cursor,
    })
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
    fn amounts_are_whole_numbers_within_their_bounds() {
        use serde_json::json;
        assert_eq!(Amount::parse("amount", &json!(5)).unwrap().get(), 5);
        assert_eq!(
            Amount::parse("amount", &json!(Amount::MAX)).unwrap().get(),
            Amount::MAX
        );
        for bad in [
            json!(0),
            json!(-1),
            json!(Amount::MAX + 1),
            json!(1.5),
            json!("5"),
            json!(null),
        ] {
            assert!(Amount::parse("amount", &bad).is_err(), "{bad}");
        }
        assert_eq!(Amount::at_least("budget", &json!(0), 0).unwrap().get(), 0);
        assert_eq!(Amount::adjustment("amount", &json!(-7)).unwrap().get(), -7);
        for bad in [json!(0), json!(-Amount::MAX - 1), json!(Amount::MAX + 1)] {
            assert!(Amount::adjustment("amount", &bad).is_err(), "{bad}");
        }
    }

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
    fn https_urls_are_serialised_and_local_hosts_refused() {
        assert_eq!(
            https_url("u", " https://x.example/a\"><script> ").unwrap(),
            "https://x.example/a%22%3E%3Cscript%3E"
        );
        assert_eq!(
            https_url("u", "https://CDN.Example.com/a.png").unwrap(),
            "https://cdn.example.com/a.png"
        );
        assert_eq!(
            https_url("u", "https://x.example").unwrap(),
            "https://x.example/"
        );
        for bad in [
            "https://localhost/",
            "https://LOCALHOST./a",
            "https://api.localhost/",
            "https://127.0.0.1/",
            "https://127.1/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://10.0.0.1/",
            "https://172.16.0.1/",
            "https://172.31.255.255/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://0.0.0.0/",
            "https://100.64.0.1/",
            "https://[::1]/",
            "https://[::]/",
            "https://[fc00::1]/",
            "https://[fd12:3456::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:10.0.0.1]/",
            "http://x.example/",
            "https://user@x.example/",
            "javascript:alert(1)",
        ] {
            assert!(https_url("u", bad).is_err(), "{bad}");
        }
        for good in [
            "https://172.32.0.1/",
            "https://8.8.8.8/",
            "https://[2606:4700::1111]/",
            "https://localhost.example/",
        ] {
            assert!(https_url("u", good).is_ok(), "{good}");
        }
    }

    #[test]
    fn text_refuses_format_characters() {
        for bad in [
            "evil\u{202E}gnp.exe",
            "zero\u{200B}width",
            "\u{2066}isolate\u{2069}",
            "bom\u{FEFF}",
            "soft\u{00AD}hyphen",
            "tag\u{E0041}",
            "joiner\u{200D}",
        ] {
            assert!(text("t", bad, 1, 100).is_err(), "{bad:?}");
        }
        assert_eq!(text("t", " Ann Ébène 🎉 ", 1, 100).unwrap(), "Ann Ébène 🎉");
        assert!(text("t", "عربي עברית", 1, 100).is_ok());
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
