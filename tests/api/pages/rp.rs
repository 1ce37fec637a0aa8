//! Unmodified OpenID Connect RP libraries run the whole flow through the hosted pages:
//! openid-client (npm, `tests/rp/openid_client.mjs`) and Authlib (Python,
//! `tests/rp/authlib_oidc.py`): discovery, code + PKCE + nonce, the ID token, userinfo,
//! refresh, logout.

use std::process::Command;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{from_run_sh, TestApp, TestUser};

/// What a library needs, and a run of it: its one JSON line. The libraries check the ID
/// token's times against the real clock: the test's clock must be on it.
async fn run_rp(
    app: &TestApp,
    command: Command,
    user: &TestUser,
    alg: &str,
    totp_code: Option<String>,
) -> Value {
    let after = "https://rp.example/signed-out";
    let client = app
        .new_client_with(
            &["openid", "profile", "email"],
            true,
            json!({ "post_logout_redirect_uris": [after], "id_token_signed_response_alg": alg }),
        )
        .await;
    let mut command = command;
    command.args([
        format!("http://{}", app.addr),
        client.client_id.clone(),
        client.client_secret.clone(),
        client.redirect_uri.clone(),
        after.to_string(),
        user.email.clone(),
        user.password.clone(),
    ]);
    command.env("SCOPE", "openid profile email");
    if let Some(code) = totp_code {
        command.env("TOTP_CODE", code);
    }
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("running the RP");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(seen["id_token_claims"]["sub"], user.id.as_str());
    assert_eq!(seen["id_token_claims"]["aud"], client.client_id.as_str());
    assert_eq!(seen["id_token_claims"]["email"], user.email.as_str());
    assert_eq!(seen["userinfo"]["sub"], user.id.as_str());
    assert_eq!(
        seen["userinfo"]["preferred_username"],
        user.username.as_str()
    );
    assert_eq!(seen["refreshed"], true);
    assert_eq!(seen["logged_out"], true);
    seen
}

fn openid_client() -> Command {
    let dir = from_run_sh("BUDDO_TEST_OPENID_CLIENT_DIR", "installs openid-client");
    let mut command = Command::new("node");
    command
        .arg("--import")
        .arg(format!("{dir}/resolve.mjs"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/rp/openid_client.mjs"
        ));
    command
}

fn authlib() -> Command {
    let mut command = Command::new(from_run_sh(
        "BUDDO_TEST_OAUTH_CLIENT_PYTHON",
        "installs Authlib",
    ));
    command.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/rp/authlib_oidc.py"
    ));
    command
}

backend_tests! {
    async fn openid_client_signs_a_totp_user_in_through_the_pages(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let token = app.login_ok(&user).await.token;
        let (secret, _) = app.enable_totp(&token).await;
        app.clock_to_real_time();
        let seen = run_rp(&app, openid_client(), &user, "RS256", Some(app.totp_now(&secret))).await;
        assert_eq!(seen["id_token_claims"]["amr"], json!(["pwd", "otp", "mfa"]));
    }

    async fn openid_client_takes_eddsa_id_tokens(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        app.clock_to_real_time();
        run_rp(&app, openid_client(), &user, "EdDSA", None).await;
    }

    async fn authlib_signs_a_user_in_through_the_pages(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        app.clock_to_real_time();
        let seen = run_rp(&app, authlib(), &user, "RS256", None).await;
        assert_eq!(seen["id_token_claims"]["amr"], json!(["pwd"]));
    }
}
