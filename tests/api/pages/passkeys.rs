//! Passkeys on the hosted pages: the one script (from the pages' own origin, allowed by the CSP),
//! "Add a passkey" on the account page and "Sign in with a passkey" on the sign-in page, each a
//! challenge fetched with the page's CSRF token and the authenticator's answer posted with the
//! page's form. The software authenticator plays the browser's part here; tests/api/pages/browser.rs
//! drives a real Chromium with its virtual authenticator.

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{PageBrowser, SoftAuthenticator, TestApp};

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A challenge from a page's options endpoint, with the browser's CSRF token.
async fn challenge(browser: &PageBrowser, path: &str) -> Value {
    let csrf = browser.cookie("buddo_csrf").expect("a CSRF cookie");
    let resp = browser
        .post_form(path, &fields(&[("csrf_token", &csrf)]))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    serde_json::from_str(&resp.body).expect("JSON")
}

backend_tests! {
    async fn the_pages_carry_one_script_of_their_own(backend) {
        let app = TestApp::spawn(backend).await;
        let browser = app.browser();
        let page = browser.get("/signin").await;
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(page.body.matches("<script").count(), 1, "{}", page.body);
        assert!(page.body.contains(r#"<script src="/assets/passkey.js" defer></script>"#));
        // Hidden until the script finds WebAuthn: the password form works without it.
        assert!(page.body.contains(r#"<button id="passkey-signin" type="button" hidden>"#), "{}", page.body);
        let (action, _) = page.form(&[]);
        assert_eq!(action, "/signin", "the password form comes first");
        let script = browser.get("/assets/passkey.js").await;
        assert_eq!(script.status, 200);
        assert_eq!(script.headers["content-type"], "text/javascript; charset=utf-8");
        assert!(script.body.contains("navigator.credentials"));
    }

    async fn a_passkey_added_on_the_account_page_signs_in_on_the_sign_in_page(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let browser = app.signed_in_browser(&user).await;
        let account = browser.get("/account").await;
        assert!(account.body.contains("No passkeys yet."), "{}", account.body);
        assert!(account.body.contains(r#"<button id="passkey-add" type="button" hidden>"#));

        let mut authenticator = SoftAuthenticator::new();
        let options = challenge(&browser, "/account/passkeys/options").await;
        let credential = authenticator.register(&options["options"]);
        let csrf = browser.cookie("buddo_csrf").unwrap();
        let added = browser
            .post_form("/account/passkeys", &fields(&[
                ("csrf_token", &csrf),
                ("challenge_id", options["challenge_id"].as_str().unwrap()),
                ("credential", &credential.to_string()),
            ]))
            .await;
        assert_eq!((added.status, added.location.as_deref()), (303, Some("/account")), "{}", added.body);
        let account = browser.get("/account").await;
        assert!(account.body.contains(r#"<ul id="passkeys">"#), "{}", account.body);

        // A new browser signs in with it, no name typed.
        let fresh = app.browser();
        let page = fresh.get("/signin?next=%2Faccount").await;
        assert_eq!(page.status, 200);
        let options = challenge(&fresh, "/signin/passkey/options").await;
        let answer = authenticator.assert(&options["options"]);
        let csrf = fresh.cookie("buddo_csrf").unwrap();
        let signed = fresh
            .post_form("/signin/passkey", &fields(&[
                ("csrf_token", &csrf),
                ("next", "/account"),
                ("challenge_id", options["challenge_id"].as_str().unwrap()),
                ("credential", &answer.to_string()),
            ]))
            .await;
        assert_eq!((signed.status, signed.location.as_deref()), (303, Some("/account")), "{}", signed.body);
        assert!(fresh.cookie("buddo_session").is_some());
        let account = fresh.get("/account").await;
        assert!(account.body.contains(&user.username), "{}", account.body);

        // The same answer again: the page says so, and no session.
        let again = app.browser();
        again.get("/signin").await;
        let csrf = again.cookie("buddo_csrf").unwrap();
        let replayed = again
            .post_form("/signin/passkey", &fields(&[
                ("csrf_token", &csrf),
                ("challenge_id", options["challenge_id"].as_str().unwrap()),
                ("credential", &answer.to_string()),
            ]))
            .await;
        assert_eq!(replayed.status, 400, "{}", replayed.body);
        assert!(replayed.alert().unwrap().contains("already used"), "{:?}", replayed.alert());
        assert!(again.cookie("buddo_session").is_none());
    }

    async fn passkey_forms_need_the_pages_csrf_token_and_a_recent_sign_in(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let browser = app.signed_in_browser(&user).await;
        // Without the CSRF token, or from another origin: refused.
        let refused = browser.post_form("/account/passkeys/options", &fields(&[("csrf_token", "wrong")])).await;
        assert_eq!(refused.status, 403);
        let csrf = browser.cookie("buddo_csrf").unwrap();
        let foreign = browser
            .post_form_from("/signin/passkey/options", &fields(&[("csrf_token", &csrf)]), Some("https://evil.example"))
            .await;
        assert_eq!(foreign.status, 403);
        // Not signed in: no registration challenge.
        let anonymous = app.browser();
        anonymous.get("/signin").await;
        let csrf = anonymous.cookie("buddo_csrf").unwrap();
        let resp = anonymous.post_form("/account/passkeys/options", &fields(&[("csrf_token", &csrf)])).await;
        assert_eq!(resp.status, 401);
        // A sign-in older than the recent-login window: none either.
        app.clock.advance(16 * 60);
        let csrf = browser.cookie("buddo_csrf").unwrap();
        let stale = browser.post_form("/account/passkeys/options", &fields(&[("csrf_token", &csrf)])).await;
        assert_eq!(stale.status, 401, "{}", stale.body);
        assert!(stale.body.contains("recent_login_required"), "{}", stale.body);
    }

    async fn a_passkey_is_renamed_and_removed_on_the_account_page(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let browser = app.signed_in_browser(&user).await;
        browser.get("/account").await;
        let mut authenticator = SoftAuthenticator::new();
        let options = challenge(&browser, "/account/passkeys/options").await;
        let credential = authenticator.register(&options["options"]);
        let csrf = browser.cookie("buddo_csrf").unwrap();
        browser
            .post_form("/account/passkeys", &fields(&[
                ("csrf_token", &csrf),
                ("challenge_id", options["challenge_id"].as_str().unwrap()),
                ("credential", &credential.to_string()),
            ]))
            .await;
        let account = browser.get("/account").await;
        let start = account.body.find("/account/passkeys/").expect("a passkey's forms") + "/account/passkeys/".len();
        let id = account.body[start..start + 36].to_string();
        assert!(account.body.contains(&format!(r#"action="/account/passkeys/{id}/remove""#)), "{}", account.body);

        // Renamed: the page shows the new name; a name too long is told, and nothing changes.
        let renamed = browser
            .post_form(&format!("/account/passkeys/{id}/rename"), &fields(&[("csrf_token", &csrf), ("name", "Work laptop")]))
            .await;
        assert_eq!((renamed.status, renamed.location.as_deref()), (303, Some("/account")), "{}", renamed.body);
        let too_long = "x".repeat(65);
        let refused = browser
            .post_form(&format!("/account/passkeys/{id}/rename"), &fields(&[("csrf_token", &csrf), ("name", &too_long)]))
            .await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        let listed = app.get_auth("/api/auth/passkeys", &app.login_ok(&user).await.token).await;
        assert_eq!(listed.assert_status(200)["passkeys"][0]["name"], "Work laptop");
        // Without the CSRF token: refused. Someone else's passkey, or none: not found.
        let forged = browser
            .post_form(&format!("/account/passkeys/{id}/remove"), &fields(&[("csrf_token", "wrong")]))
            .await;
        assert_eq!(forged.status, 403);
        let other = app.new_verified_user().await;
        let stranger = app.signed_in_browser(&other).await;
        stranger.get("/account").await;
        let their_csrf = stranger.cookie("buddo_csrf").unwrap();
        let theirs = stranger
            .post_form(&format!("/account/passkeys/{id}/remove"), &fields(&[("csrf_token", &their_csrf)]))
            .await;
        assert_eq!(theirs.status, 404, "{}", theirs.body);

        // Removed: gone from the page, and it signs in no more.
        let removed = browser
            .post_form(&format!("/account/passkeys/{id}/remove"), &fields(&[("csrf_token", &csrf)]))
            .await;
        assert_eq!((removed.status, removed.location.as_deref()), (303, Some("/account")), "{}", removed.body);
        let account = browser.get("/account").await;
        assert!(account.body.contains("No passkeys yet."), "{}", account.body);
        let fresh = app.browser();
        fresh.get("/signin").await;
        let options = challenge(&fresh, "/signin/passkey/options").await;
        let answer = authenticator.assert(&options["options"]);
        let csrf = fresh.cookie("buddo_csrf").unwrap();
        let refused = fresh
            .post_form("/signin/passkey", &fields(&[
                ("csrf_token", &csrf),
                ("challenge_id", options["challenge_id"].as_str().unwrap()),
                ("credential", &answer.to_string()),
            ]))
            .await;
        assert_ne!(refused.status, 303, "{}", refused.body);
        assert!(fresh.cookie("buddo_session").is_none());
    }
}
