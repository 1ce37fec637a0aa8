//! Google and GitHub on the hosted sign-in page: the buttons of configured providers only, a
//! callback bound to the browser that started it, a username chosen for a new account, and the
//! takeover refusal told on the page.

use crate::backend_tests;
use crate::helpers::{Person, StandInProviders, TestApp};

/// Starts a provider sign-in in `browser` and returns the provider's redirect back (a path of
/// this server with the code and state).
async fn through_provider(
    browser: &crate::helpers::PageBrowser,
    providers: &StandInProviders,
    provider: &str,
) -> String {
    let start = browser
        .get(&format!("/signin/{provider}?next=%2Faccount"))
        .await;
    assert_eq!(start.status, 303);
    let to = start.location.clone().expect("off to the provider");
    assert!(to.starts_with(&providers.base()), "{to}");
    let (code, state) = providers.approve(&to).await;
    format!("/signin/{provider}/callback?code={code}&state={state}")
}

backend_tests! {
    async fn the_sign_in_page_offers_configured_providers_only(backend) {
        let plain = TestApp::spawn(backend).await;
        let page = plain.browser().get("/signin").await;
        assert!(!page.body.contains("provider-"), "no provider configured, no button");
        assert_eq!(plain.browser().get("/signin/github").await.status, 404);

        let (app, _idp) = TestApp::spawn_with_providers(backend).await;
        let page = app.browser().get("/signin?next=%2Faccount").await;
        assert!(page.body.contains("id=\"provider-google\""), "{}", page.body);
        assert!(page.body.contains("href=\"/signin/github?next=/account\""), "{}", page.body);
    }

    async fn a_new_person_chooses_a_username_and_is_signed_in(backend) {
        let (app, idp) = TestApp::spawn_with_providers(backend).await;
        let person = Person::new("paged");
        idp.google_as(&person);
        let browser = app.browser();
        let back = through_provider(&browser, &idp, "google").await;
        let signup = browser.follow(browser.get(&back).await).await;
        assert_eq!(signup.status, 200, "{}", signup.body);
        assert!(signup.body.contains(&person.email));
        assert!(browser.cookie("buddo_session").is_none());
        let username = format!("p{}", &person.subject[..8]);
        let done = browser.submit(&signup, &[("username", &username)]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location.as_deref(), Some("/account"));
        let account = browser.get("/account").await;
        assert!(account.body.contains(&username), "{}", account.body);
        // The sign-up token went with the account.
        let again = browser.get("/signup/provider").await;
        assert_eq!(again.status, 400);
    }

    async fn a_callback_from_another_browser_signs_nobody_in(backend) {
        let (app, idp) = TestApp::spawn_with_providers(backend).await;
        idp.github_as(&Person::new("csrf"));
        // The attacker starts a sign-in with their own GitHub account and sends the callback
        // link to a victim.
        let attacker = app.browser();
        let back = through_provider(&attacker, &idp, "github").await;
        let victim = app.browser();
        let page = victim.get(&back).await;
        assert_eq!(page.status, 400);
        assert!(page.alert().unwrap().contains("not started in this browser"), "{:?}", page.alert());
        assert!(victim.cookie("buddo_session").is_none());
        assert!(victim.cookie("buddo_signup").is_none());
    }

    async fn an_address_with_an_account_is_told_to_sign_in_and_link(backend) {
        let (app, idp) = TestApp::spawn_with_providers(backend).await;
        let owner = app.new_verified_user().await;
        idp.github_as(&Person::new("thief").with_email(&owner.email));
        let browser = app.browser();
        let back = through_provider(&browser, &idp, "github").await;
        let page = browser.get(&back).await;
        assert_eq!(page.status, 409);
        assert!(page.alert().unwrap().contains("link GitHub"), "{:?}", page.alert());
        assert!(browser.cookie("buddo_session").is_none());
        // The person said no at the provider.
        let refused = browser.get("/signin/github/callback?error=access_denied&state=x").await;
        assert_eq!(refused.status, 400);
    }
}
