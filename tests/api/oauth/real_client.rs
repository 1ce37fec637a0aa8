//! An off-the-shelf OAuth client not written here (Python Authlib, `tests/oauth_client.py`)
//! runs authorization code + PKCE against the whole API, as an operator app would: exchange,
//! refresh, introspection, revocation.

use std::process::Command;

use crate::backend_tests;
use crate::helpers::{from_run_sh, TestApp};

pub(crate) fn client_python() -> String {
    from_run_sh(
        "BUDDO_TEST_OAUTH_CLIENT_PYTHON",
        "installs Authlib and httpx-sse",
    )
}

backend_tests! {
    async fn authlib_runs_the_whole_flow(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read", "points:read"], true).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let base = format!("http://{}", app.addr);
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oauth_client.py");
        let args: Vec<String> = [script, &base, &client.client_id, &client.client_secret, &client.redirect_uri, &session.token]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // The metadata names the issuer's URLs: let the client find this server there.
        let issuer = app.state.config.oauth.issuer.clone();
        assert_eq!(issuer, base, "TestApp serves the metadata of its own address");
        let out = tokio::task::spawn_blocking(move || Command::new(client_python()).args(args).output())
            .await
            .unwrap()
            .expect("running the Authlib client");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let seen: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
        assert_eq!(seen["user_id"], user.id.as_str());
        assert_eq!(seen["scope"], "profile:read points:read");
        TestApp::assert_inactive(&app.introspect(seen["revoked_access_token"].as_str().unwrap()).await);
    }
}
