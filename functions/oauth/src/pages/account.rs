//! Sign-up, and the pages the mails link to: password reset, address verification and the
//! confirmation of a new address. A mail link's page only shows a form: the token is spent by
//! the form's POST, never by the GET that mail scanners prefetch.

use askama::Template;
use axum::body::Bytes;
use axum::extract::Query;
use axum::http::StatusCode;
use serde::Deserialize;

use buddo_shared::domain::account::recovery;
use buddo_shared::domain::identity::accounts::{self, Registration};
use buddo_shared::domain::identity::mail_tokens::{self, Purpose};
use buddo_shared::domain::identity::sessions::{self, Proof};
use buddo_shared::domain::input::{self, Email, Password, Username};
use buddo_shared::domain::ledger::referrals::ReferralCredits;
use buddo_shared::http::Routes;
use buddo_shared::ApiError;

use super::signin::session_age;
use super::{has_csrf, safe_next, settle, Answer, PageResult, Visit, SESSION_COOKIE};

pub fn routes() -> Routes {
    Routes::new()
        .get("/signup", show_signup)
        .post("/signup", submit_signup)
        .get("/forgot-password", show_forgot)
        .post("/forgot-password", submit_forgot)
        .get("/reset-password", show_reset)
        .post("/reset-password", submit_reset)
        .get("/verify-email", show_verify)
        .post("/verify-email", submit_verify)
        .get("/confirm-email-change", show_email_change)
        .post("/confirm-email-change", submit_email_change)
        .get("/undo-email-change", show_email_undo)
        .post("/undo-email-change", submit_email_undo)
}

/// What went wrong with a form: a sentence for the alert, and the fields it is about.
struct Problem {
    text: String,
    fields: Vec<String>,
}

impl Problem {
    fn of(error: &ApiError) -> Self {
        let fields = match error {
            ApiError::Validation(fields) => fields.keys().map(|f| f.to_string()).collect(),
            _ => match error.describe().0 {
                "email_taken" => vec!["email".to_string()],
                "username_taken" => vec!["username".to_string()],
                "invalid_referral_code" => vec!["referral_code".to_string()],
                _ => Vec::new(),
            },
        };
        Problem {
            text: error.describe().1,
            fields,
        }
    }
}

/// The field-level marks of a form that may show a [`Problem`]: which fields are invalid,
/// which one takes the focus, and what describes each.
trait Marks {
    fn problem(&self) -> Option<&Problem>;
    /// The form's fields, in order.
    fn fields(&self) -> &'static [&'static str];
    /// The id of a field's hint, if it has one.
    fn hint(&self, _field: &str) -> Option<&'static str> {
        None
    }

    fn invalid(&self, field: &str) -> bool {
        self.problem()
            .is_some_and(|p| p.fields.iter().any(|f| f == field))
    }

    /// The first invalid field, else the first field.
    fn focus(&self, field: &str) -> bool {
        let fields = self.fields();
        let first = fields
            .iter()
            .find(|f| self.invalid(f))
            .or(fields.first())
            .copied();
        first == Some(field)
    }

    /// The ids that describe a field: its hint, and the alert when the alert is about it (an
    /// alert about no field in particular describes the first field).
    fn described_by(&self, field: &str) -> Option<String> {
        let about_it = self.problem().is_some_and(|p| {
            self.invalid(field) || (p.fields.is_empty() && self.fields().first() == Some(&field))
        });
        let ids: Vec<&str> = self
            .hint(field)
            .into_iter()
            .chain(about_it.then_some("error"))
            .collect();
        (!ids.is_empty()).then(|| ids.join(" "))
    }
}

// ---- sign-up ----

#[derive(Deserialize)]
pub struct SignUpQuery {
    #[serde(default)]
    next: Option<String>,
    /// A referral code to fill in (a referrer's invitation link).
    #[serde(default, rename = "ref")]
    referral_code: Option<String>,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage<'a> {
    csrf: &'a str,
    next: &'a str,
    email: &'a str,
    username: &'a str,
    referral_code: &'a str,
    problem: Option<Problem>,
}

impl Marks for SignUpPage<'_> {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
    fn fields(&self) -> &'static [&'static str] {
        &["email", "username", "password", "referral_code"]
    }
    fn hint(&self, field: &str) -> Option<&'static str> {
        match field {
            "username" => Some("username-hint"),
            "password" => Some("password-hint"),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    referral_code: String,
}

/// At most this many characters of what the browser sent are shown back.
fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// `GET /signup`: the form.
pub async fn show_signup(visit: Visit, Query(q): Query<SignUpQuery>) -> Answer {
    let next = safe_next(q.next.as_deref());
    let referral_code = q.referral_code.unwrap_or_default();
    visit.page(
        StatusCode::OK,
        SignUpPage {
            csrf: &visit.csrf,
            next: &next,
            email: "",
            username: "",
            referral_code: clip(&referral_code, 32),
            problem: None,
        },
    )
}

/// `POST /signup`: registers the account and signs the browser in.
pub async fn submit_signup(visit: Visit, body: Bytes) -> Answer {
    settle(sign_up(&visit, &body).await)
}

/// The validation errors of several fields as one, or the first other error.
fn combined(errors: impl IntoIterator<Item = ApiError>) -> ApiError {
    let mut all = std::collections::BTreeMap::new();
    for error in errors {
        match error {
            ApiError::Validation(fields) => all.extend(fields),
            other => return other,
        }
    }
    ApiError::Validation(all)
}

async fn sign_up(visit: &Visit, body: &Bytes) -> PageResult {
    let form: SignUpForm = visit.form(body)?;
    let next = safe_next(form.next.as_deref());
    let again = |error: ApiError| {
        visit.form_again(error, |error| SignUpPage {
            csrf: &visit.csrf,
            next: &next,
            email: clip(&form.email, Email::MAX_LEN),
            username: clip(&form.username, 64),
            referral_code: clip(&form.referral_code, 32),
            problem: Some(Problem::of(error)),
        })
    };
    let email = Email::parse("email", &form.email);
    let username = Username::parse(&form.username);
    let password = Password::parse("password", &form.password);
    let (email, username, password) = match (email, username, password) {
        (Ok(email), Ok(username), Ok(password)) => (email, username, password),
        (email, username, password) => {
            return Err(again(combined(
                [email.err(), username.err(), password.err()]
                    .into_iter()
                    .flatten(),
            )))
        }
    };
    let referral_code = Some(form.referral_code.trim())
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let registration = Registration {
        email,
        username,
        password,
        referral_code,
        // The page does not ask yet; consent is given in the settings.
        marketing_opt_in: false,
    };
    let user = accounts::register(&visit.state, registration, &visit.meta)
        .await
        .map_err(again)?;
    let cookie = sessions::start_browser(&visit.state, &user, Proof::Password, &visit.meta)
        .await
        .map_err(|e| visit.failed(e))?;
    Ok(visit.redirect(&next).cookie(visit.set_cookie(
        SESSION_COOKIE,
        &cookie,
        Some(session_age(visit)),
    )))
}

// ---- forgot password ----

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage<'a> {
    csrf: &'a str,
    email: &'a str,
    problem: Option<Problem>,
}

impl Marks for ForgotPage<'_> {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
    fn fields(&self) -> &'static [&'static str] {
        &["email"]
    }
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
}

/// `GET /forgot-password`: the form.
pub async fn show_forgot(visit: Visit) -> Answer {
    visit.page(
        StatusCode::OK,
        ForgotPage {
            csrf: &visit.csrf,
            email: "",
            problem: None,
        },
    )
}

/// `POST /forgot-password`: mails a reset link if an account has the address; the page says
/// the same either way.
pub async fn submit_forgot(visit: Visit, body: Bytes) -> Answer {
    settle(forgot(&visit, &body).await)
}

async fn forgot(visit: &Visit, body: &Bytes) -> PageResult {
    let form: ForgotForm = visit.form(body)?;
    let again = |error: ApiError| {
        visit.form_again(error, |error| ForgotPage {
            csrf: &visit.csrf,
            email: clip(&form.email, Email::MAX_LEN),
            problem: Some(Problem::of(error)),
        })
    };
    let email = Email::parse("email", &form.email).map_err(again)?;
    accounts::forgot_password(&visit.state, email, &visit.meta)
        .await
        .map_err(again)?;
    Ok(visit.message_with_link(
        "Check your email",
        &format!("{}.", accounts::FORGOT_PASSWORD_MESSAGE),
        "/signin",
        "Back to sign in",
    ))
}

// ---- reset password ----

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage<'a> {
    csrf: &'a str,
    token: &'a str,
    problem: Option<Problem>,
}

impl Marks for ResetPage<'_> {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
    fn fields(&self) -> &'static [&'static str] {
        &["password"]
    }
    fn hint(&self, field: &str) -> Option<&'static str> {
        (field == "password").then_some("password-hint")
    }
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

/// A mail link's token: well formed and still waiting to be used (a read; nothing changes).
async fn live_token(visit: &Visit, raw: &str, purpose: Purpose) -> Result<String, Answer> {
    let token = input::token("token", raw).map_err(|_| visit.failed(mail_tokens::invalid()))?;
    mail_tokens::find(&visit.state, &token, purpose)
        .await
        .map_err(|e| visit.failed(e))?;
    Ok(token)
}

/// `GET /reset-password?token=…`: the form for a new password.
pub async fn show_reset(visit: Visit, Query(q): Query<TokenQuery>) -> Answer {
    settle(reset_form(&visit, &q.token).await)
}

async fn reset_form(visit: &Visit, raw: &str) -> PageResult {
    let token = live_token(visit, raw, Purpose::ResetPassword).await?;
    Ok(visit.page(
        StatusCode::OK,
        ResetPage {
            csrf: &visit.csrf,
            token: &token,
            problem: None,
        },
    ))
}

/// `POST /reset-password`: sets the new password; every login session ends.
pub async fn submit_reset(visit: Visit, body: Bytes) -> Answer {
    settle(reset(&visit, &body).await)
}

async fn reset(visit: &Visit, body: &Bytes) -> PageResult {
    let form: ResetForm = visit.form(body)?;
    let token =
        input::token("token", &form.token).map_err(|_| visit.failed(mail_tokens::invalid()))?;
    let password = Password::parse("password", &form.password).map_err(|error| {
        visit.page(
            error.status(),
            ResetPage {
                csrf: &visit.csrf,
                token: &token,
                problem: Some(Problem::of(&error)),
            },
        )
    })?;
    accounts::reset_password(
        &visit.state,
        &ReferralCredits,
        &token,
        password,
        &visit.meta,
    )
    .await
    .map_err(|e| visit.failed(e))?;
    let mut answer = visit.message_with_link(
        "Password changed",
        "Your password has been reset. Sign in with the new one.",
        "/signin",
        "Sign in",
    );
    if visit.cookie(SESSION_COOKIE).is_some() {
        // Its login session ended with the reset.
        answer = answer.cookie(visit.clear_cookie(SESSION_COOKIE));
    }
    Ok(answer)
}

// ---- mail links confirmed with a button ----

/// A page with one button that confirms a mail link.
#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    title: &'a str,
    text: &'a str,
    action: &'a str,
    button: &'a str,
    csrf: &'a str,
    token: &'a str,
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
}

has_csrf!(SignUpForm, ForgotForm, ResetForm, TokenForm);

/// One of the mail links confirmed with a button.
struct Confirmation {
    purpose: Purpose,
    title: &'static str,
    text: &'static str,
    action: &'static str,
    button: &'static str,
}

const VERIFY: Confirmation = Confirmation {
    purpose: Purpose::VerifyEmail,
    title: "Verify your email address",
    text: "Confirm that this is your email address.",
    action: "/verify-email",
    button: "Verify my email address",
};

const EMAIL_CHANGE: Confirmation = Confirmation {
    purpose: Purpose::ChangeEmail,
    title: "Confirm your new email address",
    text: "Confirm that this address is to be the new email address of your Buddo account. You will sign in with it from now on.",
    action: "/confirm-email-change",
    button: "Confirm the new address",
};

const EMAIL_UNDO: Confirmation = Confirmation {
    purpose: Purpose::UndoEmailChange,
    title: "Take your account back",
    text: "This gives your Buddo account this email address back, signs out every device, disconnects every app and mails this address a link to set a new password.",
    action: "/undo-email-change",
    button: "Restore this address",
};

async fn confirm_page(visit: &Visit, raw: &str, what: &Confirmation) -> PageResult {
    let token = live_token(visit, raw, what.purpose).await?;
    Ok(visit.page(
        StatusCode::OK,
        ConfirmPage {
            title: what.title,
            text: what.text,
            action: what.action,
            button: what.button,
            csrf: &visit.csrf,
            token: &token,
        },
    ))
}

/// The token of a posted confirmation form.
fn posted_token(visit: &Visit, body: &Bytes) -> Result<String, Answer> {
    let form: TokenForm = visit.form(body)?;
    input::token("token", &form.token).map_err(|_| visit.failed(mail_tokens::invalid()))
}

/// `GET /verify-email?token=…`: the button that verifies the address.
pub async fn show_verify(visit: Visit, Query(q): Query<TokenQuery>) -> Answer {
    settle(confirm_page(&visit, &q.token, &VERIFY).await)
}

/// `POST /verify-email`.
pub async fn submit_verify(visit: Visit, body: Bytes) -> Answer {
    settle(verify(&visit, &body).await)
}

async fn verify(visit: &Visit, body: &Bytes) -> PageResult {
    let token = posted_token(visit, body)?;
    accounts::verify_email(&visit.state, &ReferralCredits, &token)
        .await
        .map_err(|e| visit.failed(e))?;
    Ok(visit.message_with_link(
        "Email verified",
        "Your email address is verified.",
        "/account",
        "Go to your account",
    ))
}

/// `GET /confirm-email-change?token=…`: the button that moves the account to the new address.
pub async fn show_email_change(visit: Visit, Query(q): Query<TokenQuery>) -> Answer {
    settle(confirm_page(&visit, &q.token, &EMAIL_CHANGE).await)
}

/// `POST /confirm-email-change`.
pub async fn submit_email_change(visit: Visit, body: Bytes) -> Answer {
    settle(email_change(&visit, &body).await)
}

async fn email_change(visit: &Visit, body: &Bytes) -> PageResult {
    let token = posted_token(visit, body)?;
    accounts::confirm_email_change(&visit.state, &ReferralCredits, &token, &visit.meta)
        .await
        .map_err(|e| visit.failed(e))?;
    Ok(visit.message_with_link(
        "Email address changed",
        "Your Buddo account has its new email address; sign in with it from now on.",
        "/account",
        "Go to your account",
    ))
}

/// `GET /undo-email-change?token=…`: the button that takes the account back to this address.
pub async fn show_email_undo(visit: Visit, Query(q): Query<TokenQuery>) -> Answer {
    settle(confirm_page(&visit, &q.token, &EMAIL_UNDO).await)
}

/// `POST /undo-email-change`.
pub async fn submit_email_undo(visit: Visit, body: Bytes) -> Answer {
    settle(email_undo(&visit, &body).await)
}

async fn email_undo(visit: &Visit, body: &Bytes) -> PageResult {
    let token = posted_token(visit, body)?;
    recovery::undo_email_change(&visit.state, &token, &visit.meta)
        .await
        .map_err(|e| visit.failed(e))?;
    Ok(visit.message(
        StatusCode::OK,
        "Your account is back",
        "The email address is restored and every session has ended. A link to set a new password is on its way to this address.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alert_describes_the_fields_it_is_about() {
        let error = combined([
            ApiError::field("email", "must be a valid email address"),
            ApiError::field("password", "must be at least 8 characters"),
        ]);
        let page = SignUpPage {
            csrf: "c",
            next: "/account",
            email: "x",
            username: "",
            referral_code: "",
            problem: Some(Problem::of(&error)),
        };
        assert!(page.invalid("email") && page.invalid("password") && !page.invalid("username"));
        assert!(page.focus("email") && !page.focus("password"));
        assert_eq!(page.described_by("email").as_deref(), Some("error"));
        assert_eq!(
            page.described_by("password").as_deref(),
            Some("password-hint error")
        );
        assert_eq!(
            page.described_by("username").as_deref(),
            Some("username-hint")
        );
        let html = page.render().unwrap();
        assert!(
            html.contains(
                "email: must be a valid email address; password: must be at least 8 characters"
            ),
            "{html}"
        );

        let taken = SignUpPage {
            problem: Some(Problem::of(&ApiError::conflict("username_taken", "taken"))),
            ..page
        };
        assert!(taken.focus("username") && !taken.focus("email"));
        let limited = SignUpPage {
            problem: Some(Problem::of(&ApiError::TooManyRequests { retry_after: 1 })),
            ..taken
        };
        assert!(limited.focus("email"));
        assert_eq!(limited.described_by("email").as_deref(), Some("error"));
        assert_eq!(limited.described_by("referral_code"), None);
    }

    #[test]
    fn clipping_keeps_whole_characters() {
        assert_eq!(clip("ééé", 2), "éé");
        assert_eq!(clip("ab", 5), "ab");
    }
}
