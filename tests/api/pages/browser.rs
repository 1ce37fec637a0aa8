//! The hosted pages in a real browser (headless Chromium): sign up from an app's request,
//! deny, verify the address from the mail's link, sign in with TOTP, consent; add a passkey and
//! sign in with it (Chromium's virtual authenticator); and a page in a frame does not render. `BUDDO_SCREENSHOTS=<dir>` saves the sign-in and consent pages there
//! (the README's pictures).

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, Browser, Person, TestApp};

fn screenshot_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("BUDDO_SCREENSHOTS").map(Into::into)
}

backend_tests! {
async fn a_user_signs_up_denies_verifies_signs_in_with_totp_and_consents(backend) {
    let app = TestApp::spawn(backend).await;
    let base = format!("http://{}", app.addr);
    let callback = format!("{base}/callback");
    let client = app
        .new_client_with(&["openid", "profile", "email"], true, json!({ "redirect_uris": [callback], "website_url": "https://quest.example" }))
        .await;
    let browser = Browser::open().await;

    // An app sends the browser; nobody is signed in: the sign-in page, then sign-up.
    let request = app.authorization(&client, "openid profile email", &[]);
    browser.goto(&format!("{base}{}", request.path)).await;
    assert_eq!(browser.current_url().await.path(), "/signin");
    browser.click("create-account").await;
    assert_eq!(browser.current_url().await.path(), "/signup");
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    browser.fill("email", &email).await;
    browser.fill("username", &format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..12])).await;
    browser.fill("password", "a-long-browser-passphrase").await;
    browser.click("submit").await;

    // Signed up and in: the consent page of the app.
    browser.url_starting_with(&format!("{base}/oauth/authorize?")).await;
    assert!(browser.text_of("h1").await.contains("Test App"));
    assert!(browser.text_of("#scopes").await.contains("email address"));
    browser.click("deny").await;
    let denied = browser.url_starting_with(&callback).await;
    assert!(denied.as_str().starts_with(&callback), "{denied}");
    let params: std::collections::HashMap<_, _> = denied.query_pairs().into_owned().collect();
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], request.state);
    assert_eq!(params["iss"], base);

    // The mail's link opens a working page.
    let token = app.token_from_mail(&email, "/verify-email").await;
    browser.goto(&format!("{base}/verify-email?token={token}")).await;
    browser.click("submit").await;
    // The answer is a page of its own: wait for it rather than read the form's.
    let mut verified = false;
    for _ in 0..100 {
        if browser.source().await.contains("verified") {
            verified = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(verified, "the verification page answered");
    let password = "a-long-browser-passphrase";
    let session = app.login(&email, password, None).await;
    let api_token = session.assert_status(200)["token"].as_str().unwrap().to_string();
    assert_eq!(app.me(&api_token).await.assert_status(200)["user"]["email_verified"], true);

    // Signing out from the account page.
    browser.goto(&format!("{base}/account")).await;
    assert!(browser.text_of("#who").await.contains(&email));
    browser.click("signout").await;
    browser.url_starting_with(&format!("{base}/signout")).await;
    browser.goto(&format!("{base}/account")).await;
    assert_eq!(browser.current_url().await.path(), "/signin", "signed out");

    // TOTP on; the app sends the browser again.
    let (secret, _) = app.enable_totp(&api_token).await;
    app.next_totp_step();
    let request = app.authorization(&client, "openid profile email", &[]);
    browser.goto(&format!("{base}{}", request.path)).await;
    assert_eq!(browser.current_url().await.path(), "/signin");
    browser.fill("email", &email).await;
    if let Some(dir) = screenshot_dir() {
        browser.screenshot(dir.join("signin.png")).await;
    }
    browser.fill("password", password).await;
    browser.click("submit").await;
    browser.url_starting_with(&format!("{base}/signin/totp?")).await;
    // By keyboard alone: the code, then Enter.
    browser.fill("code", &format!("{}\u{E007}", app.totp_now(&secret))).await;
    browser.url_starting_with(&format!("{base}/oauth/authorize?")).await;
    if let Some(dir) = screenshot_dir() {
        browser.screenshot(dir.join("consent.png")).await;
    }
    browser.click("allow").await;
    let granted = browser.url_starting_with(&callback).await;
    let params: std::collections::HashMap<_, _> = granted.query_pairs().into_owned().collect();
    assert_eq!(params["state"], request.state);
    let body = app.exchange(&client, &params["code"], &request.verifier).await;
    let (claims, _) = app.id_token_claims(body.assert_status(200)["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["email"], email.as_str());
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    browser.close().await;
}

async fn a_person_signs_up_and_in_through_the_stand_in_github(backend) {
    let (app, idp) = TestApp::spawn_with_providers(backend).await;
    let base = format!("http://{}", app.addr);
    let person = Person::new("hubber");
    idp.github_as(&person);
    let browser = Browser::open().await;

    // The sign-in page offers both configured providers.
    browser.goto(&format!("{base}/signin")).await;
    assert!(browser.has("#provider-google").await);
    browser.click("provider-github").await;

    // GitHub approved at once: no account yet, so a username is chosen.
    browser.url_starting_with(&format!("{base}/signup/provider")).await;
    assert_eq!(browser.text_of("#email").await, person.email);
    let username = format!("h{}", &person.subject[..8]);
    browser.fill("username", &username).await;
    browser.click("submit").await;
    browser.url_starting_with(&format!("{base}/account")).await;
    assert!(browser.text_of("#who").await.contains(&username));

    // Signed out, GitHub signs the browser in to the same account.
    browser.click("signout").await;
    // The sign-out's own navigation ends first, or it may land after the next one.
    browser.url_starting_with(&format!("{base}/signout")).await;
    browser.goto(&format!("{base}/signin")).await;
    browser.click("provider-github").await;
    browser.url_starting_with(&format!("{base}/account")).await;
    assert!(browser.text_of("#who").await.contains(&username));

    // With TOTP on, the code step follows the provider.
    let api = app.provider_login(&idp, "github").await;
    let token = api.assert_status(200)["token"].as_str().unwrap().to_string();
    let (secret, _) = app.enable_totp(&token).await;
    app.next_totp_step();
    browser.click("signout").await;
    // The sign-out's own navigation ends first, or it may land after the next one.
    browser.url_starting_with(&format!("{base}/signout")).await;
    browser.goto(&format!("{base}/signin")).await;
    browser.click("provider-github").await;
    browser.url_starting_with(&format!("{base}/signin/totp")).await;
    browser.fill("code", &format!("{}\u{E007}", app.totp_now(&secret))).await;
    browser.url_starting_with(&format!("{base}/account")).await;
    assert!(browser.text_of("#who").await.contains(&username));
    browser.close().await;
}

async fn a_passkey_added_on_the_account_page_signs_in_on_the_sign_in_page(backend) {
    // Served on `localhost`, the relying party id (an IP address cannot be one).
    let app = TestApp::spawn_with(backend, |c| c.passkeys.rp_id = "localhost".into()).await;
    let base = format!("http://localhost:{}", app.addr.port());
    let user = app.new_verified_user().await;
    let browser = Browser::open().await;
    browser.add_virtual_authenticator().await;

    // Signed in with the password, the account page adds a passkey.
    browser.goto(&format!("{base}/signin")).await;
    browser.fill("email", &user.email).await;
    browser.fill("password", &user.password).await;
    browser.click("submit").await;
    browser.url_starting_with(&format!("{base}/account")).await;
    assert!(browser.has("#no-passkeys").await);
    browser.click("passkey-add").await;
    let mut added = false;
    for _ in 0..100 {
        if browser.has("#passkeys li").await {
            added = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(added, "no passkey was added: {}", browser.source().await);
    let token = app.login_ok(&user).await.token;
    let listed = app.get_auth("/api/auth/passkeys", &token).await;
    assert_eq!(listed.assert_status(200)["passkeys"].as_array().unwrap().len(), 1);

    // Signed out, the passkey signs the browser in: no name, no password typed.
    browser.click("signout").await;
    browser.url_starting_with(&format!("{base}/signout")).await;
    browser.goto(&format!("{base}/signin")).await;
    browser.click("passkey-signin").await;
    browser.url_starting_with(&format!("{base}/account")).await;
    assert!(browser.text_of("#who").await.contains(&user.email));
    let listed = app.get_auth("/api/auth/passkeys", &token).await;
    assert!(listed.assert_status(200)["passkeys"][0]["last_used_at"].is_string());
    browser.close().await;
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_page_inside_a_frame_does_not_render() {
    use base64::Engine;
    let app = TestApp::spawn(Backend::Embedded).await;
    let browser = Browser::open().await;
    // The page itself renders on its own.
    browser.goto(&app.url("/signin")).await;
    assert!(browser.has("#email").await);
    let framing = format!(
        "<!doctype html><title>framing</title><iframe id=\"f\" src=\"{}\"></iframe>",
        app.url("/signin")
    );
    let data = base64::engine::general_purpose::STANDARD.encode(framing);
    browser.goto(&format!("data:text/html;base64,{data}")).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    browser.client().enter_frame(0).await.expect("the frame");
    let fields = browser
        .client()
        .find_all(fantoccini::Locator::Css("#email"))
        .await
        .unwrap_or_default();
    assert!(
        fields.is_empty(),
        "the sign-in form rendered inside a frame"
    );
    browser.close().await;
}
