//! The hosted sign-in: password, then TOTP when enabled (unless the browser is a remembered
//! device); a browser session that logout, a password change and disabling end; CSRF and
//! origin checks on every form.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests! {
    async fn password_sign_in_opens_a_browser_session(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let browser = app.browser();
        let page = browser.get("/signin").await;
        assert_eq!(page.status, 200);
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert_eq!(page.headers["cache-control"], "no-store");
        assert!(page.body.contains("<label for=\"email\">"), "labelled fields");
        let csrf_cookie = page.headers["set-cookie"].to_str().unwrap();
        assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"), "{csrf_cookie}");
        assert!(!csrf_cookie.contains("__Host-"), "no __Host- prefix on plain http");

        let done = browser.submit(&page, &[("email", &user.email), ("password", &user.password)]).await;
        assert_eq!(done.status, 303);
        assert_eq!(done.location.as_deref(), Some("/account"));
        let account = browser.get("/account").await;
        assert_eq!(account.status, 200);
        assert!(account.body.contains(&user.username), "{}", account.body);
    }

    async fn a_wrong_password_is_told_on_the_page(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let browser = app.browser();
        let page = browser.get("/signin").await;
        let again = browser.submit(&page, &[("email", &user.email), ("password", "not-the-password")]).await;
        assert_eq!(again.status, 401);
        assert_eq!(again.alert().as_deref(), Some("Invalid email or password"));
        assert_eq!(again.field("email").as_deref(), Some(user.email.as_str()), "the email stays filled");
        assert!(browser.cookie("buddo_session").is_none());
    }

    async fn the_lockout_of_the_api_holds_on_the_page(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.failed_password_per_ip = buddo_shared::config::Limit::new(2, 900)).await;
        let user = app.new_user().await;
        for _ in 0..2 {
            app.login(&user.email, "wrong-password-1", None).await.assert_status(401);
        }
        let browser = app.browser();
        let page = browser.get("/signin").await;
        let refused = browser.submit(&page, &[("email", &user.email), ("password", &user.password)]).await;
        assert_eq!(refused.status, 429, "{}", refused.body);
        assert!(browser.cookie("buddo_session").is_none());
    }

    async fn totp_accounts_sign_in_in_two_steps(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let token = app.login_ok(&user).await.token;
        let (secret, recovery) = app.enable_totp(&token).await;
        app.next_totp_step();

        let browser = app.browser();
        let page = browser.get("/signin").await;
        let step = browser.submit(&page, &[("email", &user.email), ("password", &user.password)]).await;
        assert_eq!(step.status, 303);
        assert!(step.location.as_deref().unwrap().starts_with("/signin/totp"), "{:?}", step.location);
        assert!(browser.cookie("buddo_session").is_none(), "no session before the code");
        let code_page = browser.get(step.location.as_deref().unwrap()).await;
        let wrong = browser.submit(&code_page, &[("code", "000000")]).await;
        assert_eq!(wrong.status, 401);
        assert!(wrong.alert().unwrap().contains("invalid"), "{:?}", wrong.alert());
        let done = browser.submit(&wrong, &[("code", &app.totp_now(&secret))]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location.as_deref(), Some("/account"));
        assert!(browser.cookie("buddo_pending").is_none());
        assert_eq!(browser.get("/account").await.status, 200);

        // A recovery code works as the second step too.
        let other = app.browser();
        let page = other.get("/signin").await;
        let step = other.submit(&page, &[("email", &user.email), ("password", &user.password)]).await;
        let code_page = other.get(step.location.as_deref().unwrap()).await;
        let done = other.submit(&code_page, &[("code", &recovery[0])]).await;
        assert_eq!(done.status, 303);
    }

    async fn the_code_step_cannot_be_skipped_or_reused(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let token = app.login_ok(&user).await.token;
        let (secret, _) = app.enable_totp(&token).await;
        app.next_totp_step();
        let browser = app.browser();
        // No pending sign-in: the code page sends the browser back to the password.
        let page = browser.get("/signin/totp").await;
        assert_eq!(page.status, 303);
        let page = browser.get("/signin").await;
        let step = browser.submit(&page, &[("email", &user.email), ("password", &user.password)]).await;
        let pending = browser.cookie("buddo_pending").unwrap();
        let code_page = browser.get(step.location.as_deref().unwrap()).await;
        assert_eq!(browser.submit(&code_page, &[("code", &app.totp_now(&secret))]).await.status, 303);
        // The same half-done sign-in again: gone.
        browser.set_cookie("buddo_pending", &pending);
        app.next_totp_step();
        let again = browser.submit(&code_page, &[("code", &app.totp_now(&secret))]).await;
        assert_eq!(again.status, 401);
        // Expired after five minutes.
        let late = app.browser();
        let page = late.get("/signin").await;
        let step = late.submit(&page, &[("email", &user.email), ("password", &user.password)]).await;
        let code_page = late.get(step.location.as_deref().unwrap()).await;
        app.clock.advance(301);
        let expired = late.submit(&code_page, &[("code", &app.totp_now(&secret))]).await;
        assert_eq!(expired.status, 401);
        assert!(expired.alert().unwrap().contains("took too long"));
    }

    async fn a_remembered_browser_skips_the_code_step(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let token = app.login_ok(&user).await.token;
        let (secret, _) = app.enable_totp(&token).await;
        app.next_totp_step();

        // The box is there, not ticked: a code alone trusts nothing.
        let browser = app.browser();
        let page = browser.get("/signin").await;
        let step = browser.submit(&page, &[("email", &user.email), ("password", &user.password)]).await;
        let code_page = browser.get(step.location.as_deref().unwrap()).await;
        assert!(code_page.body.contains("Remember this device for 30 days"), "{}", code_page.body);
        assert!(code_page.body.contains("type=\"checkbox\" name=\"remember_device\"") || code_page.body.contains("name=\"remember_device\" type=\"checkbox\""), "{}", code_page.body);
        assert_eq!(browser.submit(&code_page, &[("code", &app.totp_now(&secret))]).await.status, 303);
        assert!(browser.cookie("buddo_device").is_none());

        // Ticked: a long-lived device cookie, only for this host, never readable by script.
        app.next_totp_step();
        let remembered = app.browser();
        let page = remembered.get("/signin").await;
        let step = remembered.submit(&page, &[("email", &user.email), ("password", &user.password)]).await;
        let code_page = remembered.get(step.location.as_deref().unwrap()).await;
        let done = remembered.submit(&code_page, &[("code", &app.totp_now(&secret)), ("remember_device", "1")]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let set = done.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).find(|c| c.starts_with("buddo_device=")).expect("a device cookie");
        assert!(set.contains("; Path=/; HttpOnly; SameSite=Lax") && set.ends_with(&format!("; Max-Age={}", 30 * 24 * 3600)), "{set}");
        let device = remembered.cookie("buddo_device").unwrap();
        let api = app.post("/api/auth/login", json!({ "email": user.email, "password": user.password, "device_token": device })).await;
        let api_token = api.assert_status(200)["token"].as_str().unwrap().to_string();
        let devices = app.get_auth("/api/auth/trusted-devices", &api_token).await;
        assert_eq!(devices.assert_status(200)["trusted_devices"].as_array().unwrap().len(), 1, "the cookie is the API's device token");

        // Signed out and in again: the password alone, the code step skipped.
        let account = remembered.get("/account").await;
        remembered.submit(&account, &[]).await;
        assert!(remembered.cookie("buddo_session").is_none());
        let page = remembered.get("/signin").await;
        let again = remembered.submit(&page, &[("email", &user.email), ("password", &user.password)]).await;
        assert_eq!(again.status, 303, "{}", again.body);
        assert_eq!(again.location.as_deref(), Some("/account"));
        assert!(remembered.cookie("buddo_pending").is_none() && remembered.cookie("buddo_session").is_some());
        assert_eq!(remembered.get("/account").await.status, 200);
        // Never the password.
        remembered.forget_cookie("buddo_session");
        let page = remembered.get("/signin").await;
        let wrong = remembered.submit(&page, &[("email", &user.email), ("password", "not-the-password")]).await;
        assert_eq!(wrong.status, 401);
        // Another browser still gets the code step, and so does this one once the password changed.
        let page = browser.get("/signin").await;
        let step = browser.submit(&page, &[("email", &user.email), ("password", &user.password)]).await;
        assert!(step.location.as_deref().unwrap().starts_with("/signin/totp"), "{:?}", step.location);
        app.next_totp_step();
        let fresh = app.login(&user.email, &user.password, Some(&app.totp_now(&secret))).await.assert_status(200)["token"].as_str().unwrap().to_string();
        app.post_auth("/api/auth/change-password", &fresh, Some(json!({ "current_password": user.password, "new_password": "An0ther-long-passphrase" })))
            .await
            .assert_status(200);
        let page = remembered.get("/signin").await;
        let step = remembered.submit(&page, &[("email", &user.email), ("password", "An0ther-long-passphrase")]).await;
        assert!(step.location.as_deref().unwrap().starts_with("/signin/totp"), "{:?}", step.location);
        assert!(remembered.cookie("buddo_session").is_none());
    }

    async fn every_form_wants_its_csrf_token_and_origin(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let browser = app.browser();
        let page = browser.get("/signin").await;
        let (action, fields) = page.form(&[("email", &user.email), ("password", &user.password)]);
        // Another token than the cookie's.
        let forged: Vec<(String, String)> = fields.iter().map(|(k, v)| if k == "csrf_token" { (k.clone(), "x".repeat(43)) } else { (k.clone(), v.clone()) }).collect();
        assert_eq!(browser.post_form(&action, &forged).await.status, 403);
        // The right token from another site.
        let cross = browser.post_form_from(&action, &fields, Some("https://evil.example")).await;
        assert_eq!(cross.status, 403);
        // No CSRF cookie at all (a first visit that never saw the form).
        let fresh = app.browser();
        assert_eq!(fresh.post_form(&action, &fields).await.status, 403);
        assert!(browser.cookie("buddo_session").is_none() && fresh.cookie("buddo_session").is_none());
        // The real thing passes.
        assert_eq!(browser.post_form(&action, &fields).await.status, 303);
    }

    async fn signing_out_ends_the_login_session(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let browser = app.signed_in_browser(&user).await;
        let cookie = browser.cookie("buddo_session").unwrap();
        let account = browser.get("/account").await;
        let out = browser.submit(&account, &[]).await;
        assert_eq!(out.status, 200);
        assert!(browser.cookie("buddo_session").is_none(), "the cookie is cleared");
        // The old cookie no longer signs anyone in.
        browser.set_cookie("buddo_session", &cookie);
        assert_eq!(browser.get("/account").await.status, 303);
        let sessions = app.get_auth("/api/auth/sessions", &app.login_ok(&user).await.token).await;
        assert_eq!(sessions.assert_status(200)["sessions"].as_array().unwrap().len(), 1, "only the API session is left");
    }

    async fn a_password_change_or_disabling_ends_browser_sessions(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let browser = app.signed_in_browser(&user).await;
        let token = app.login_ok(&user).await.token;
        app.post_auth("/api/auth/change-password", &token, Some(json!({ "current_password": user.password, "new_password": "An0ther-long-passphrase" })))
            .await
            .assert_status(200);
        assert_eq!(browser.get("/account").await.status, 303, "signed out by the change");

        let other = app.new_user().await;
        let browser = app.signed_in_browser(&other).await;
        let admin = app.admin_token().await;
        app.post_auth(&format!("/api/admin/users/{}/disable", other.id), &admin, None).await;
        assert_eq!(browser.get("/account").await.status, 303, "signed out by disabling");
    }
}
