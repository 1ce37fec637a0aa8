//! A browser over plain HTTP for the hosted pages: a cookie jar, no automatic redirects, the
//! `Origin` header a browser sends with a form, and the forms of a page read from its HTML.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{TestApp, TestUser};

pub struct PageBrowser {
    http: reqwest::Client,
    pub base: String,
    jar: Mutex<BTreeMap<String, String>>,
}

/// A page or a redirect.
#[derive(Debug)]
pub struct PageResp {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl TestApp {
    /// A fresh browser with no cookies.
    pub fn browser(&self) -> PageBrowser {
        PageBrowser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{}", self.addr),
            jar: Mutex::new(BTreeMap::new()),
        }
    }

    /// A browser signed in as `user` (no TOTP) on the hosted sign-in page.
    pub async fn signed_in_browser(&self, user: &TestUser) -> PageBrowser {
        let browser = self.browser();
        let page = browser.get("/signin").await;
        let done = browser
            .submit(
                &page,
                &[("email", &user.email), ("password", &user.password)],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert!(browser.cookie("buddo_session").is_some());
        browser
    }
}

impl PageBrowser {
    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    fn cookie_header(&self) -> String {
        let jar = self.jar.lock().unwrap();
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&self, resp: reqwest::Response) -> PageResp {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        {
            let mut jar = self.jar.lock().unwrap();
            for value in headers.get_all(reqwest::header::SET_COOKIE) {
                let text = value.to_str().unwrap();
                let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
                let (name, value) = pair.split_once('=').unwrap();
                if attrs.contains("Max-Age=0") {
                    jar.remove(name);
                } else {
                    jar.insert(name.to_string(), value.to_string());
                }
            }
        }
        let location = headers
            .get(reqwest::header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        PageResp {
            status,
            location,
            headers,
            body: resp.text().await.unwrap(),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .lock()
            .unwrap()
            .insert(name.to_string(), value.to_string());
    }

    pub fn forget_cookie(&self, name: &str) {
        self.jar.lock().unwrap().remove(name);
    }

    pub async fn get(&self, path_or_url: &str) -> PageResp {
        let resp = self
            .http
            .get(self.url(path_or_url))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(resp).await
    }

    /// Follows redirects on this server until a page, or a redirect elsewhere.
    pub async fn follow(&self, mut resp: PageResp) -> PageResp {
        while let Some(to) = resp.location.clone() {
            if to.starts_with("http") && !to.starts_with(&self.base) {
                break;
            }
            resp = self.get(&to).await;
        }
        resp
    }

    /// Posts a form as a page of this server would (its `Origin`).
    pub async fn post_form(&self, path: &str, fields: &[(String, String)]) -> PageResp {
        self.post_form_from(path, fields, Some(&self.base.clone()))
            .await
    }

    /// Posts a form with the given `Origin` (`None`: no such header).
    pub async fn post_form_from(
        &self,
        path: &str,
        fields: &[(String, String)],
        origin: Option<&str>,
    ) -> PageResp {
        let mut req = self
            .http
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish(),
            );
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        self.read(req.send().await.unwrap()).await
    }

    /// Fills the page's form (`fill` overrides its fields; a `("decision", "allow")` pair
    /// chooses that button) and sends it.
    pub async fn submit(&self, page: &PageResp, fill: &[(&str, &str)]) -> PageResp {
        let (action, fields) = page.form(fill);
        self.post_form(&action, &fields).await
    }
}

impl PageResp {
    /// The first form of the page: its action and fields (ticked boxes only), `fill` applied.
    pub fn form(&self, fill: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
        let start = self
            .body
            .find("<form")
            .unwrap_or_else(|| panic!("no form on the page:\n{}", self.body));
        let end = self.body[start..].find("</form>").unwrap() + start;
        let html = &self.body[start..end];
        let action = attr(html, "action").unwrap_or_default();
        let mut fields: Vec<(String, String)> = Vec::new();
        for tag in html.split("<input").skip(1) {
            let tag = &tag[..tag.find('>').unwrap()];
            // A box not ticked is not sent (`fill` ticks it).
            let unticked =
                attr(tag, "type").as_deref() == Some("checkbox") && !tag.contains(" checked");
            if unticked {
                continue;
            }
            if let Some(name) = attr(tag, "name") {
                fields.push((name, attr(tag, "value").unwrap_or_default()));
            }
        }
        for (name, value) in fill {
            match fields.iter_mut().find(|(n, _)| n == name) {
                Some(field) => field.1 = value.to_string(),
                None => fields.push((name.to_string(), value.to_string())),
            }
        }
        (action, fields)
    }

    /// A form field's value.
    pub fn field(&self, name: &str) -> Option<String> {
        self.form(&[])
            .1
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The text of the page's alert, if it shows one.
    pub fn alert(&self) -> Option<String> {
        let at = self.body.find("role=\"alert\"")?;
        let start = self.body[at..].find('>')? + at + 1;
        let end = self.body[start..].find('<')? + start;
        Some(unescape(&self.body[start..end]))
    }

    /// The query parameters of the redirect's target.
    pub fn location_params(&self) -> BTreeMap<String, String> {
        let location = self.location.as_deref().expect("a redirect");
        let url = url::Url::parse(location)
            .or_else(|_| url::Url::parse(&format!("http://x{location}")))
            .unwrap();
        url.query_pairs().into_owned().collect()
    }
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let at = tag.find(&needle)? + needle.len();
    let end = tag[at..].find('"')? + at;
    Some(unescape(&tag[at..end]))
}

/// HTML character references back to text (`&#38;`, `&#x2f;`, `&amp;` …).
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail.find(';').unwrap_or(0);
        let entity = &tail[1..end.max(1)];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16).ok())
                .unwrap_or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) if end > 0 => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            _ => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// An authorization request a browser is sent with, and what its app keeps.
pub struct BrowserAuthorization {
    /// The path and query of `/oauth/authorize`.
    pub path: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl TestApp {
    /// The hosted authorization URL an app sends a browser to: code + PKCE, a fresh `state`
    /// and `nonce`, `extra` parameters added.
    pub fn authorization(
        &self,
        client: &super::TestClient,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> BrowserAuthorization {
        let (verifier, challenge) = super::pkce();
        let state = uuid::Uuid::new_v4().simple().to_string();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.extend_pairs([
            ("client_id", client.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", scope),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]);
        query.extend_pairs(extra.iter().copied());
        BrowserAuthorization {
            path: format!("/oauth/authorize?{}", query.finish()),
            state,
            nonce,
            verifier,
        }
    }
}

impl TestApp {
    /// A signed-in browser through the hosted authorization: consent when asked, then the
    /// redirect's parameters (`code`, `state`, `iss`).
    pub async fn browser_code(
        &self,
        browser: &PageBrowser,
        authorization: &BrowserAuthorization,
    ) -> BTreeMap<String, String> {
        let mut answer = browser.get(&authorization.path).await;
        if answer.status == 200 {
            answer = browser.submit(&answer, &[("decision", "allow")]).await;
        }
        assert!(
            answer.location_params().contains_key("code"),
            "{:?} {}",
            answer.location,
            answer.body
        );
        answer.location_params()
    }

    /// The claims of an ID token, its signature checked against the server's JWKS; and its
    /// header's `alg`.
    pub async fn id_token_claims(&self, id_token: &str) -> (serde_json::Value, String) {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation};
        let header = jsonwebtoken::decode_header(id_token).expect("a JWT");
        let kid = header.kid.expect("a kid");
        let jwks = self.get("/.well-known/jwks.json").await;
        let jwk = jwks.assert_status(200)["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .cloned()
            .expect("the kid is in the JWKS");
        let key = match header.alg {
            Algorithm::RS256 => DecodingKey::from_rsa_components(
                jwk["n"].as_str().unwrap(),
                jwk["e"].as_str().unwrap(),
            )
            .unwrap(),
            Algorithm::EdDSA => {
                DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap()
            }
            other => panic!("unexpected alg {other:?}"),
        };
        let mut validation = Validation::new(header.alg);
        validation.validate_aud = false;
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<serde_json::Value>(id_token, &key, &validation)
            .expect("a valid signature")
            .claims;
        (claims, format!("{:?}", header.alg))
    }
}

impl TestApp {
    /// Moves the frozen clock to the real time: for clients that check tokens against their
    /// own clock (RP libraries, a browser).
    pub fn clock_to_real_time(&self) {
        let real = time::OffsetDateTime::now_utc().unix_timestamp();
        self.clock.advance(real - self.state.now_unix());
    }
}
