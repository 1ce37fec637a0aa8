//! Access-token verification (RFC 8725): only EdDSA with a known key, the right issuer,
//! audience and type, inside its lifetime, for a live session.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use std::net::SocketAddr;
use std::sync::Arc;

use buddo_shared::clock::Clock;
use buddo_shared::jwt::{JwtKeys, SigningKeyPair};
use buddo_shared::AppState;
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

/// A key's public JWK, as `buddo keygen` prints it.
fn public_jwk(pair: &SigningKeyPair) -> Value {
    json!({ "kty": "OKP", "crv": "Ed25519", "x": pair.public_x(), "kid": pair.kid, "use": "sig", "alg": "EdDSA" })
}

/// Another function over the app's table and clock, holding `keys`: its base URL.
async fn function_with(app: &TestApp, keys: JwtKeys) -> String {
    let clock: Arc<dyn Clock> = app.clock.clone();
    let state = AppState::with_keys(
        app.state.config.clone(),
        app.state.table.clone(),
        clock,
        keys,
    )
    .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            buddo::app(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

async fn get(app: &TestApp, base: &str, path: &str, token: Option<&str>) -> crate::helpers::Resp {
    let mut request = app.client.get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    TestApp::read(request.send().await.unwrap()).await
}

backend_tests! {
    // The rotation of README "Rotating the signing keys": while JWT_PUBLIC_KEYS holds the old
    // and the new key, tokens of both verify everywhere and both are published; once the old
    // key is retired, its tokens are refused even though their session is live.
    async fn a_key_rotation_accepts_both_keys_then_refuses_the_retired_one(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let old_token = app.login_ok(&user).await.token;
        let old = SigningKeyPair::parse(&app.signing_key).unwrap();
        let new = SigningKeyPair::generate();
        let both = json!({ "keys": [public_jwk(&new), public_jwk(&old)] }).to_string();
        let new_only = json!({ "keys": [public_jwk(&new)] }).to_string();
        let jwt = &app.state.config.jwt;

        // The auth function after the switch signs with the new key, for the same session.
        let signer = JwtKeys::new(jwt, Some(SigningKeyPair::parse(&new.to_secret_text()).unwrap()), Some(&both)).unwrap();
        let claims = claims_of(&old_token);
        let (new_token, _) = signer
            .issue(claims["sub"].as_str().unwrap(), claims["sid"].as_str().unwrap(), app.clock.now().unix_timestamp())
            .unwrap();

        // Verify-only functions during the rotation: both tokens, both keys published.
        let during = function_with(&app, JwtKeys::new(jwt, None, Some(&both)).unwrap()).await;
        for token in [&old_token, &new_token] {
            get(&app, &during, "/api/user/profile", Some(token)).await.assert_status(200);
        }
        let published = get(&app, &during, "/.well-known/jwks.json", None).await;
        let kids: Vec<&str> = published.body["keys"].as_array().unwrap().iter().filter_map(|k| k["kid"].as_str()).collect();
        assert!(kids.contains(&old.kid.as_str()) && kids.contains(&new.kid.as_str()), "{kids:?}");
        // So does the signer, which also holds JWT_PUBLIC_KEYS.
        let auth = function_with(&app, signer).await;
        for token in [&old_token, &new_token] {
            get(&app, &auth, "/api/auth/me", Some(token)).await.assert_status(200);
        }

        // The old key retired: its token is refused, the new one still works.
        let after = function_with(&app, JwtKeys::new(jwt, None, Some(&new_only)).unwrap()).await;
        get(&app, &after, "/api/user/profile", Some(&old_token)).await.assert_error(401, "invalid_token");
        get(&app, &after, "/api/user/profile", Some(&new_token)).await.assert_status(200);
        let published = get(&app, &after, "/.well-known/jwks.json", None).await;
        assert!(!published.body.to_string().contains(&old.kid), "{}", published.body);
    }

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
