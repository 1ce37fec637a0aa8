//! `/oauth/authorize` for browsers: sign-in on the way, consent, the answers at the redirect
//! URI (`code`, `state`, `iss`), the errors that are never redirected, and `prompt`.

use crate::backend_tests;
use crate::helpers::{PageBrowser, PageResp, TestApp, TestClient};

/// Allows the consent page the browser is on, and returns the redirect to the app.
async fn allow(browser: &PageBrowser, consent: &PageResp) -> PageResp {
    assert_eq!(consent.status, 200, "a consent page: {}", consent.body);
    let answer = browser.submit(consent, &[("decision", "allow")]).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    answer
}

fn assert_redirected_to(client: &TestClient, resp: &PageResp) {
    let location = resp.location.as_deref().expect("a redirect");
    assert!(location.starts_with(&client.redirect_uri), "{location}");
}

backend_tests! {
    async fn a_browser_signs_in_consents_and_the_app_gets_a_code(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read", "points:read"], true).await;
        let user = app.new_user().await;
        let browser = app.browser();
        let request = app.authorization(&client, "profile:read points:read", &[]);

        let first = browser.get(&request.path).await;
        assert_eq!(first.status, 303, "not signed in: to the sign-in page");
        let signin = browser.get(first.location.as_deref().unwrap()).await;
        assert!(signin.location.is_none() && signin.body.contains("Sign in"));
        let back = browser.submit(&signin, &[("email", &user.email), ("password", &user.password)]).await;
        assert!(back.location.as_deref().unwrap().starts_with("/oauth/authorize?"), "{:?}", back.location);

        let consent = browser.get(back.location.as_deref().unwrap()).await;
        assert_eq!(consent.status, 200);
        assert!(consent.body.contains("Test App") && consent.body.contains("Reviewed by Buddo"));
        assert!(consent.body.contains("Read the user&#39;s points balance") || consent.body.contains("points balance"), "{}", consent.body);
        assert!(consent.body.contains(&user.username));
        let answer = allow(&browser, &consent).await;
        assert_redirected_to(&client, &answer);
        let params = answer.location_params();
        assert_eq!(params["state"], request.state);
        assert_eq!(params["iss"], format!("http://{}", app.addr), "RFC 9207");
        let tokens = app.exchange(&client, &params["code"], &request.verifier).await;
        let body = tokens.assert_status(200);
        assert_eq!(body["scope"], "profile:read points:read");

        // Granted before: straight back to the app, no page.
        let again = app.authorization(&client, "profile:read", &[]);
        let answer = browser.get(&again.path).await;
        assert_eq!(answer.status, 303);
        assert_redirected_to(&client, &answer);
        assert_eq!(answer.location_params()["state"], again.state);
        // prompt=consent asks again.
        let asked = app.authorization(&client, "profile:read", &[("prompt", "consent")]);
        assert_eq!(browser.get(&asked.path).await.status, 200);
    }

    async fn deny_tells_the_app_access_denied(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let browser = app.signed_in_browser(&user).await;
        let request = app.authorization(&client, "profile:read", &[]);
        let consent = browser.get(&request.path).await;
        let answer = browser.submit(&consent, &[("decision", "deny")]).await;
        assert_eq!(answer.status, 303);
        assert_redirected_to(&client, &answer);
        let params = answer.location_params();
        assert_eq!(params["error"], "access_denied");
        assert_eq!(params["state"], request.state);
        assert_eq!(params["iss"], format!("http://{}", app.addr));
        assert!(!params.contains_key("code"));
    }

    async fn an_unknown_client_or_redirect_uri_gets_a_page_never_a_redirect(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let browser = app.signed_in_browser(&user).await;
        let request = app.authorization(&client, "profile:read", &[]);
        for (from, to) in [
            (client.client_id.as_str(), "bci_unknown"),
            (client.redirect_uri.as_str(), "https://evil.example/callback"),
        ] {
            let path = request.path.replace(&url::form_urlencoded::byte_serialize(from.as_bytes()).collect::<String>(), &url::form_urlencoded::byte_serialize(to.as_bytes()).collect::<String>());
            let page = browser.get(&path).await;
            assert_eq!(page.status, 400, "{path}");
            assert!(page.location.is_none(), "never redirected");
            assert!(page.alert().is_some(), "{}", page.body);
        }
    }

    async fn other_errors_go_back_to_the_app_with_state_and_iss(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let browser = app.signed_in_browser(&user).await;
        let request = app.authorization(&client, "points:spend", &[]);
        let answer = browser.get(&request.path).await;
        assert_eq!(answer.status, 303);
        assert_redirected_to(&client, &answer);
        let params = answer.location_params();
        assert_eq!(params["error"], "invalid_scope");
        assert_eq!(params["state"], request.state);
        assert_eq!(params["iss"], format!("http://{}", app.addr));
        let plain = app.authorization(&client, "profile:read", &[]).path.replace("code_challenge_method=S256", "code_challenge_method=plain");
        let answer = browser.get(&plain).await;
        assert_eq!(answer.location_params()["error"], "invalid_request");
    }

    async fn prompt_none_never_shows_a_page(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let request = app.authorization(&client, "profile:read", &[("prompt", "none")]);
        let answer = app.browser().get(&request.path).await;
        assert_eq!(answer.status, 303);
        assert_redirected_to(&client, &answer);
        assert_eq!(answer.location_params()["error"], "login_required");
        let browser = app.signed_in_browser(&user).await;
        let answer = browser.get(&request.path).await;
        assert_eq!(answer.location_params()["error"], "consent_required");
        // Once granted, prompt=none answers with a code.
        let consent = browser.get(&app.authorization(&client, "profile:read", &[]).path).await;
        allow(&browser, &consent).await;
        let answer = browser.get(&app.authorization(&client, "profile:read", &[("prompt", "none")]).path).await;
        assert!(answer.location_params().contains_key("code"));
    }

    async fn prompt_login_and_max_age_ask_for_the_password_again(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let browser = app.signed_in_browser(&user).await;
        let consent = browser.get(&app.authorization(&client, "profile:read", &[]).path).await;
        allow(&browser, &consent).await;

        let request = app.authorization(&client, "profile:read", &[("prompt", "login")]);
        let to_signin = browser.get(&request.path).await;
        assert!(to_signin.location.as_deref().unwrap().starts_with("/signin?"), "{:?}", to_signin.location);
        let signin = browser.get(to_signin.location.as_deref().unwrap()).await;
        let back = browser.submit(&signin, &[("email", &user.email), ("password", &user.password)]).await;
        let answer = browser.get(back.location.as_deref().unwrap()).await;
        assert_eq!(answer.status, 303, "signed in again: the code, no loop");
        assert_eq!(answer.location_params()["state"], request.state);
        assert!(answer.location_params().contains_key("code"));

        app.clock.advance(120);
        let request = app.authorization(&client, "profile:read", &[("max_age", "60")]);
        let to_signin = browser.get(&request.path).await;
        assert!(to_signin.location.as_deref().unwrap().starts_with("/signin?"));
        let request = app.authorization(&client, "profile:read", &[("max_age", "600")]);
        assert!(browser.get(&request.path).await.location_params().contains_key("code"));
    }

    async fn login_hint_fills_the_email(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let request = app.authorization(&client, "profile:read", &[("login_hint", "hint@example.com")]);
        let browser = app.browser();
        let to_signin = browser.get(&request.path).await;
        let page = browser.get(to_signin.location.as_deref().unwrap()).await;
        assert_eq!(page.field("email").as_deref(), Some("hint@example.com"));
    }

    async fn a_consent_forged_by_another_origin_is_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let browser = app.signed_in_browser(&user).await;
        let request = app.authorization(&client, "profile:read", &[]);
        let consent = browser.get(&request.path).await;
        let (action, mut fields) = consent.form(&[("decision", "allow")]);
        let cross = browser.post_form_from(&action, &fields, Some("https://evil.example")).await;
        assert_eq!(cross.status, 403);
        assert!(cross.location.is_none());
        // Without the browser's CSRF token (a page of another site cannot read it).
        fields.retain(|(k, _)| k != "csrf_token");
        assert_eq!(browser.post_form(&action, &fields).await.status, 403);
        // Nothing was granted: the next request still asks.
        assert_eq!(browser.get(&app.authorization(&client, "profile:read", &[]).path).await.status, 200);
    }

    async fn an_unapproved_app_is_refused_to_others_at_the_redirect_uri(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], false).await;
        let user = app.new_user().await;
        let browser = app.signed_in_browser(&user).await;
        let request = app.authorization(&client, "profile:read", &[]);
        let answer = browser.get(&request.path).await;
        assert_redirected_to(&client, &answer);
        assert_eq!(answer.location_params()["error"], "access_denied");
    }
}
