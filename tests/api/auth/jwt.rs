//! Access-token verification (RFC 8725): only EdDSA with a known key, the right issuer,
//! audience and type, inside its lifetime, for a live session.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use buddo_shared::clock::Clock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::TestApp;

/// Claims of a real token, re-signed by the test with whatever it wants to try.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

fn pkcs8(seed_text: &str) -> (String, Vec<u8>) {
    let (kid, seed) = seed_text.split_once(':').unwrap();
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend(B64.decode(seed).unwrap());
    (kid.to_string(), der)
}

fn sign_eddsa(app: &TestApp, claims: &Value, kid: Option<&str>, typ: Option<&str>) -> String {
    let (real_kid, der) = pkcs8(&app.signing_key);
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.unwrap_or(&real_kid).to_string());
    header.typ = typ.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&der)).unwrap()
}

backend_tests! {
    async fn forged_and_misused_tokens_are_rejected(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        app.me(&session.token).await.assert_status(200);
        let claims = claims_of(&session.token);
        let (kid, _) = pkcs8(&app.signing_key);

        // A correctly re-signed copy is accepted: the checks below fail for their own reason.
        app.me(&sign_eddsa(&app, &claims, None, Some("at+jwt"))).await.assert_status(200);

        let header_none = B64.encode(json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string());
        let body = B64.encode(claims.to_string());
        let alg_none = format!("{header_none}.{body}.");

        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(kid.clone());
        hs.typ = Some("at+jwt".into());
        let hs256 = jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(kid.as_bytes())).unwrap();

        let unknown_kid = sign_eddsa(&app, &claims, Some("not-a-key"), Some("at+jwt"));
        let wrong_typ = sign_eddsa(&app, &claims, None, Some("JWT"));
        let mut wrong_iss = claims.clone();
        wrong_iss["iss"] = json!("someone-else");
        let mut wrong_aud = claims.clone();
        wrong_aud["aud"] = json!("another-api");
        let now = app.clock.now().unix_timestamp();
        let mut expired = claims.clone();
        expired["iat"] = json!(now - 7200);
        expired["exp"] = json!(now - 3600);
        let mut future = claims.clone();
        future["iat"] = json!(now + 3600);
        future["exp"] = json!(now + 7200);
        let mut other_user = claims.clone();
        other_user["sub"] = json!(uuid::Uuid::new_v4().to_string());
        let mut tampered = session.token.clone();
        tampered.pop();

        let cases = [
            ("alg none", alg_none),
            ("HS256", hs256),
            ("unknown kid", unknown_kid),
            ("wrong typ", wrong_typ),
            ("wrong iss", sign_eddsa(&app, &wrong_iss, None, Some("at+jwt"))),
            ("wrong aud", sign_eddsa(&app, &wrong_aud, None, Some("at+jwt"))),
            ("expired", sign_eddsa(&app, &expired, None, Some("at+jwt"))),
            ("issued in the future", sign_eddsa(&app, &future, None, Some("at+jwt"))),
            ("session of another user", sign_eddsa(&app, &other_user, None, Some("at+jwt"))),
            ("tampered signature", tampered),
            ("garbage", "not.a.jwt".to_string()),
        ];
        for (name, token) in cases {
            let resp = app.me(&token).await;
            assert_eq!(resp.status, 401, "{name}: {}", resp.body);
            resp.assert_error(401, "invalid_token");
        }
    }

    async fn missing_or_malformed_authorization_is_401(backend) {
        let app = TestApp::spawn(backend).await;
        let no_header = app.client.get(app.url("/api/auth/me")).send().await.unwrap();
        TestApp::read(no_header).await.assert_error(401, "invalid_token");
        let basic = app.client.get(app.url("/api/auth/me")).header("authorization", "Basic YTpi").send().await.unwrap();
        TestApp::read(basic).await.assert_error(401, "invalid_token");
    }

    async fn access_tokens_expire_with_the_clock(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        app.clock.advance(3599);
        app.me(&session.token).await.assert_status(200);
        app.clock.advance(2);
        app.me(&session.token).await.assert_error(401, "invalid_token");
    }
}
