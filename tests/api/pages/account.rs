//! Sign-up and the pages the mails link to: verification, password reset and the
//! confirmation of a new address. A mail link's GET changes nothing; every POST wants its
//! CSRF token and origin.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{PageBrowser, PageResp, TestApp};

/// A fresh name for a sign-up on the page.
fn fresh() -> (String, String, String) {
    let username = format!("page_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let email = format!("{username}@example.com");
    let password = format!("pw-{username}-secret");
    (email, username, password)
}

fn percent(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The user's `email_verified` and `email`, as the API tells them.
async fn me(app: &TestApp, email: &str, password: &str) -> (bool, String) {
    let login = app.login(email, password, None).await;
    let token = login.assert_status(200)["token"]
        .as_str()
        .unwrap()
        .to_string();
    let me = app.me(&token).await;
    let user = &me.assert_status(200)["user"];
    (
        user["email_verified"].as_bool().unwrap(),
        user["email"].as_str().unwrap().to_string(),
    )
}

/// The form posted with a token other than the CSRF cookie's, with none, and from another
/// site: all refused.
async fn assert_refused(browser: &PageBrowser, page: &PageResp, fill: &[(&str, &str)]) {
    let (action, fields) = page.form(fill);
    let forged: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| {
            if k == "csrf_token" {
                (k.clone(), "x".repeat(43))
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let resp = browser.post_form(&action, &forged).await;
    assert_eq!(
        resp.status, 403,
        "{action} with a forged token: {}",
        resp.body
    );
    let without: Vec<(String, String)> = fields
        .iter()
        .filter(|(k, _)| k != "csrf_token")
        .cloned()
        .collect();
    let resp = browser.post_form(&action, &without).await;
    assert_eq!(resp.status, 403, "{action} without a token: {}", resp.body);
    let resp = browser
        .post_form_from(&action, &fields, Some("https://evil.example"))
        .await;
    assert_eq!(
        resp.status, 403,
        "{action} from another origin: {}",
        resp.body
    );
}

backend_tests! {
    async fn sign_up_signs_in_and_continues_to_next(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let request = app.authorization(&client, "profile:read", &[]);
        let browser = app.browser();
        // Not signed in, the authorization request goes to the sign-in page, which links here.
        let first = browser.get(&request.path).await;
        let signin = browser.get(first.location.as_deref().unwrap()).await;
        let link = format!("/signup?next={}", percent(&request.path));
        assert!(signin.body.contains("href=\"/signup?next="), "{}", signin.body);

        let page = browser.get(&link).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert_eq!(page.field("next").as_deref(), Some(request.path.as_str()));
        assert!(request.path.contains(&format!("nonce={}", request.nonce)), "the OpenID Connect request goes on whole");
        for field in ["email", "username", "password", "referral_code"] {
            assert!(page.body.contains(&format!("<label for=\"{field}\">")), "{field} is labelled");
        }
        assert!(page.body.contains("autocomplete=\"new-password\""));
        assert!(page.body.contains("id=\"submit\""));
        assert!(page.body.contains("href=\"/signin?next="), "a link to sign in");

        let (email, username, password) = fresh();
        let done = browser.submit(&page, &[("email", &email), ("username", &username), ("password", &password)]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location.as_deref(), Some(request.path.as_str()));
        assert!(browser.cookie("buddo_session").is_some(), "signed in at once");
        let consent = browser.follow(done).await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        assert!(consent.body.contains(&username), "the consent page of the new account");
        assert_eq!(app.tokens_from_mail(&email, "/verify-email").await.len(), 1, "the verification mail");
        assert_eq!(me(&app, &email, &password).await, (false, email.clone()));

        // Without `next`, the account page; a foreign `next` is not followed.
        let other = app.browser();
        let page = other.get("/signup?next=https%3A%2F%2Fevil.example").await;
        let (email, username, password) = fresh();
        let done = other.submit(&page, &[("email", &email), ("username", &username), ("password", &password)]).await;
        assert_eq!(done.location.as_deref(), Some("/account"));
        let account = other.get("/account").await;
        assert!(account.body.contains(&username));
    }

    async fn a_taken_or_invalid_sign_up_is_told_on_the_form(backend) {
        let app = TestApp::spawn(backend).await;
        let existing = app.new_user().await;
        let browser = app.browser();
        let page = browser.get("/signup").await;
        let (_, username, password) = fresh();
        let taken = browser.submit(&page, &[("email", &existing.email), ("username", &username), ("password", &password)]).await;
        assert_eq!(taken.status, 409);
        assert_eq!(taken.alert().as_deref(), Some("An account with this email already exists"));
        assert_eq!(taken.field("email").as_deref(), Some(existing.email.as_str()), "the email stays filled");
        assert_eq!(taken.field("username").as_deref(), Some(username.as_str()), "the username stays filled");
        assert_eq!(taken.field("password").as_deref(), Some(""), "never the password");
        assert!(!taken.body.contains(&password));
        assert!(taken.body.contains("aria-invalid=\"true\" aria-describedby=\"error\" autofocus"), "{}", taken.body);
        assert!(browser.cookie("buddo_session").is_none());

        let (email, _, _) = fresh();
        let name_taken = browser.submit(&taken, &[("email", &email), ("username", &existing.username.to_uppercase()), ("password", &password)]).await;
        assert_eq!(name_taken.status, 409);
        assert_eq!(name_taken.alert().as_deref(), Some("This username is taken"));

        let invalid = browser.submit(&name_taken, &[("email", "not-an-address"), ("username", "9lives"), ("password", "short")]).await;
        assert_eq!(invalid.status, 400);
        let alert = invalid.alert().unwrap();
        for reason in ["email: must be a valid email address", "username: ", "password: must be at least 8 characters"] {
            assert!(alert.contains(reason), "{alert}");
        }
        assert_eq!(invalid.body.matches("aria-invalid=\"true\"").count(), 3);

        let unknown_code = browser.submit(&invalid, &[("email", &email), ("username", &username), ("password", &password), ("referral_code", "NOSUCH12")]).await;
        assert_eq!(unknown_code.status, 400);
        assert_eq!(unknown_code.alert().as_deref(), Some("Unknown referral code"));
        assert_eq!(unknown_code.field("referral_code").as_deref(), Some("NOSUCH12"));
        assert!(browser.cookie("buddo_session").is_none());

        // Fixed, it goes through, with the referral code of a real account.
        let done = browser.submit(&unknown_code, &[("password", &password), ("referral_code", &existing.referral_code)]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert!(browser.cookie("buddo_session").is_some());
    }

    async fn the_sign_up_limit_is_told_on_the_form(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.register = buddo_shared::config::Limit::new(1, 3600)).await;
        let browser = app.browser();
        let page = browser.get("/signup").await;
        let (email, username, password) = fresh();
        assert_eq!(browser.submit(&page, &[("email", &email), ("username", &username), ("password", &password)]).await.status, 303);
        let other = app.browser();
        let page = other.get("/signup").await;
        let (email, username, password) = fresh();
        let limited = other.submit(&page, &[("email", &email), ("username", &username), ("password", &password)]).await;
        assert_eq!(limited.status, 429);
        assert!(limited.alert().unwrap().contains("Too many attempts"), "{:?}", limited.alert());
        assert_eq!(limited.field("email").as_deref(), Some(email.as_str()));
        assert!(other.cookie("buddo_session").is_none());
    }

    async fn the_verification_link_verifies_on_post_only(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let token = app.token_from_mail(&user.email, "/verify-email").await;
        let browser = app.browser();
        let link = format!("/verify-email?token={token}");
        let page = browser.get(&link).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.field("token").as_deref(), Some(token.as_str()));
        assert!(page.body.contains("id=\"submit\""));
        // A scanner's prefetch, twice: nothing changes.
        assert_eq!(browser.get(&link).await.status, 200);
        assert_eq!(app.browser().get(&link).await.status, 200);
        assert!(!me(&app, &user.email, &user.password).await.0, "a GET verifies nothing");

        let done = browser.submit(&page, &[]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Email verified") && done.body.contains("href=\"/account\""), "{}", done.body);
        assert!(me(&app, &user.email, &user.password).await.0);
        // Spent: the link and its form are done.
        assert_eq!(browser.submit(&page, &[]).await.status, 400);
        let used = browser.get(&link).await;
        assert_eq!(used.status, 400);
        assert!(used.alert().unwrap().contains("invalid, expired or already used"));
        assert_eq!(browser.get("/verify-email?token=no%20such%20token").await.status, 400);
        assert_eq!(browser.get("/verify-email").await.status, 400);
    }

    async fn forgot_password_says_the_same_and_the_link_sets_a_new_password(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let browser = app.browser();
        let signin = browser.get("/signin").await;
        assert!(signin.body.contains("href=\"/forgot-password\""));
        let page = browser.get("/forgot-password").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("<label for=\"email\">") && page.body.contains("id=\"submit\""));
        let known = browser.submit(&page, &[("email", &user.email)]).await;
        let unknown = browser.submit(&page, &[("email", "nobody-here@example.com")]).await;
        assert_eq!(known.status, 200);
        assert_eq!(known.status, unknown.status);
        assert_eq!(known.body, unknown.body, "the same page either way");
        assert!(known.body.contains(buddo_shared::domain::identity::accounts::FORGOT_PASSWORD_MESSAGE));
        assert!(app.mails_to("nobody-here@example.com").await.is_empty());
        let invalid = browser.submit(&page, &[("email", "not-an-address")]).await;
        assert_eq!(invalid.status, 400);
        assert!(invalid.alert().unwrap().contains("email"));

        let token = app.token_from_mail(&user.email, "/reset-password").await;
        let form = browser.get(&format!("/reset-password?token={token}")).await;
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(form.body.contains("<label for=\"password\">") && form.body.contains("autocomplete=\"new-password\""));
        let short = browser.submit(&form, &[("password", "short")]).await;
        assert_eq!(short.status, 400);
        assert!(short.alert().unwrap().contains("at least 8 characters"));
        assert_eq!(short.field("token").as_deref(), Some(token.as_str()), "the form keeps its token");
        let new_password = "a-brand-new-passphrase";
        let done = browser.submit(&short, &[("password", new_password)]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("href=\"/signin\""));

        let signin = browser.get("/signin").await;
        let old = browser.submit(&signin, &[("email", &user.email), ("password", &user.password)]).await;
        assert_eq!(old.status, 401, "the old password no longer signs in");
        let new = browser.submit(&signin, &[("email", &user.email), ("password", new_password)]).await;
        assert_eq!(new.status, 303);
        assert!(me(&app, &user.email, new_password).await.0, "the mailbox got the link: verified");
        // The link works once.
        assert_eq!(browser.get(&format!("/reset-password?token={token}")).await.status, 400);
        assert_eq!(browser.submit(&form, &[("password", "yet-another-passphrase")]).await.status, 400);
    }

    async fn the_email_change_link_confirms_on_post(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let moved = format!("moved-{}", user.email);
        app.post_auth("/api/auth/change-email", &session.token, Some(json!({ "new_email": moved, "password": user.password })))
            .await
            .assert_status(200);
        let token = app.token_from_mail(&moved, "/confirm-email-change").await;
        let browser = app.browser();
        let page = browser.get(&format!("/confirm-email-change?token={token}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("id=\"submit\""));
        assert_eq!(me(&app, &user.email, &user.password).await.1, user.email, "a GET changes nothing");
        let done = browser.submit(&page, &[]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Email address changed"));
        assert_eq!(me(&app, &moved, &user.password).await, (true, moved.clone()));
        assert_eq!(browser.submit(&page, &[]).await.status, 400, "once");
        // A verification link is not an email-change link.
        let verify = app.tokens_from_mail(&user.email, "/verify-email").await.pop().unwrap();
        assert_eq!(browser.get(&format!("/confirm-email-change?token={verify}")).await.status, 400);
    }

    async fn the_email_undo_link_restores_the_address_on_post(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let moved = format!("gone-{}", user.email);
        app.post_auth("/api/auth/change-email", &session.token, Some(json!({ "new_email": moved, "password": user.password })))
            .await
            .assert_status(200);
        let confirm = app.token_from_mail(&moved, "/confirm-email-change").await;
        app.post("/api/auth/change-email/confirm", json!({ "token": confirm })).await.assert_status(200);
        let undo = app.token_from_mail(&user.email, "/undo-email-change").await;
        let browser = app.browser();
        let page = browser.get(&format!("/undo-email-change?token={undo}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("id=\"submit\""));
        assert_eq!(me(&app, &moved, &user.password).await, (true, moved.clone()), "a GET changes nothing");
        let done = browser.submit(&page, &[]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Your account is back"));
        assert_eq!(me(&app, &user.email, &user.password).await, (true, user.email.clone()));
        assert_ne!(app.login(&moved, &user.password, None).await.status, 200, "the other address is released");
        assert_eq!(browser.submit(&page, &[]).await.status, 400, "once");
        // A confirmation link is not an undo link.
        assert_eq!(browser.get(&format!("/undo-email-change?token={confirm}")).await.status, 400);
    }

    async fn every_account_form_wants_its_csrf_token_and_origin(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let browser = app.browser();

        let page = browser.get("/signup").await;
        let (email, username, password) = fresh();
        let fill = [("email", email.as_str()), ("username", username.as_str()), ("password", password.as_str())];
        assert_refused(&browser, &page, &fill).await;
        let (action, fields) = page.form(&fill);
        browser.forget_cookie("buddo_csrf");
        assert_eq!(browser.post_form(&action, &fields).await.status, 403, "no CSRF cookie");
        assert!(browser.cookie("buddo_session").is_none());
        app.login(&email, &password, None).await.assert_status(401);
        assert!(app.mails_to(&email).await.is_empty(), "no account was made");

        let page = browser.get("/forgot-password").await;
        assert_refused(&browser, &page, &[("email", &user.email)]).await;
        assert!(app.tokens_from_mail(&user.email, "/reset-password").await.is_empty(), "no reset mail");

        let verify = app.token_from_mail(&user.email, "/verify-email").await;
        let page = browser.get(&format!("/verify-email?token={verify}")).await;
        assert_refused(&browser, &page, &[]).await;
        assert!(!me(&app, &user.email, &user.password).await.0, "not verified");

        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let reset = app.token_from_mail(&user.email, "/reset-password").await;
        let page = browser.get(&format!("/reset-password?token={reset}")).await;
        assert_refused(&browser, &page, &[("password", "an-attackers-choice")]).await;
        app.login(&user.email, &user.password, None).await.assert_status(200);

        let session = app.login_ok(&user).await;
        app.post_auth("/api/auth/change-email", &session.token, Some(json!({ "new_email": "elsewhere@example.com", "password": user.password })))
            .await
            .assert_status(200);
        let change = app.token_from_mail("elsewhere@example.com", "/confirm-email-change").await;
        let page = browser.get(&format!("/confirm-email-change?token={change}")).await;
        assert_refused(&browser, &page, &[]).await;
        assert_eq!(me(&app, &user.email, &user.password).await.1, user.email, "the address stays");

        // The same forms, sent right, pass.
        let page = browser.get(&format!("/verify-email?token={verify}")).await;
        assert_eq!(browser.submit(&page, &[]).await.status, 200);
        let page = browser.get(&format!("/confirm-email-change?token={change}")).await;
        assert_eq!(browser.submit(&page, &[]).await.status, 200);
    }
}
