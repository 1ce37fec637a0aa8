//! The text of every mail. Links are built from the configured `PUBLIC_WEB_URL` only.

use super::Mail;

fn mail(to: &str, subject: &str, text: String) -> Mail {
    Mail {
        to: to.to_string(),
        subject: subject.to_string(),
        text,
    }
}

pub fn verification(to: &str, web_url: &str, token: &str, hours: u64) -> Mail {
    mail(
        to,
        "Verify your Buddo email address",
        format!(
            "Welcome to Buddo!\n\nConfirm your email address by opening this link:\n{web_url}/verify-email?token={token}\n\nOr send this code to POST /api/auth/verify-email:\n{token}\n\nThe link expires in {hours} hours. If you did not create an account, ignore this mail."
        ),
    )
}

pub fn password_reset(to: &str, web_url: &str, token: &str, minutes: u64) -> Mail {
    mail(
        to,
        "Reset your Buddo password",
        format!(
            "Someone asked to reset the password of your Buddo account.\n\nChoose a new password here:\n{web_url}/reset-password?token={token}\n\nThe link expires in {minutes} minutes and works once. If it was not you, ignore this mail: your password stays as it is."
        ),
    )
}

pub fn password_changed(to: &str) -> Mail {
    mail(
        to,
        "Your Buddo password was changed",
        "The password of your Buddo account was just changed and every other session was signed out.\n\nIf this was not you, reset your password at once.".into(),
    )
}

pub fn email_change(to: &str, web_url: &str, token: &str, minutes: u64) -> Mail {
    mail(
        to,
        "Confirm your new Buddo email address",
        format!(
            "Confirm that this is the new email address of your Buddo account:\n{web_url}/confirm-email-change?token={token}\n\nThe link expires in {minutes} minutes. If you did not ask for this, ignore this mail."
        ),
    )
}

pub fn email_change_requested(to: &str, new_email: &str) -> Mail {
    mail(
        to,
        "Your Buddo email address is being changed",
        format!(
            "Someone asked to change the email address of your Buddo account to {new_email}.\n\nIf this was not you, change your password at once."
        ),
    )
}

/// To the address an account just left, with the link that takes it back.
pub fn email_changed_undo(
    to: &str,
    new_email: &str,
    web_url: &str,
    token: &str,
    days: u64,
) -> Mail {
    mail(
        to,
        "Your Buddo email address was changed",
        format!(
            "The email address of your Buddo account was changed to {new_email}.\n\nIf this was not you, take your account back here:\n{web_url}/undo-email-change?token={token}\n\nThe link works once within {days} days. It restores this address, signs out every session and disconnects every app; then choose a new password with the link we send to this address."
        ),
    )
}

/// To an address someone tried to move another account to: it is taken, so no link.
pub fn email_in_use(to: &str) -> Mail {
    mail(
        to,
        "Someone tried to use your email address on Buddo",
        "Someone asked to move a Buddo account to this email address. It already belongs to your Buddo account, so nothing was changed.\n\nIf this was you, sign in with this address instead. Otherwise you can ignore this mail.".into(),
    )
}

pub fn totp_enabled(to: &str) -> Mail {
    mail(
        to,
        "Two-factor authentication is on",
        "Two-factor authentication (TOTP) was turned on for your Buddo account. Keep your recovery codes somewhere safe.\n\nIf this was not you, reset your password at once.".into(),
    )
}

pub fn totp_disabled(to: &str) -> Mail {
    mail(
        to,
        "Two-factor authentication is off",
        "Two-factor authentication (TOTP) was turned off for your Buddo account.\n\nIf this was not you, reset your password at once.".into(),
    )
}

/// A change of a subscription: `change` is what the activity log names it.
pub fn subscription_changed(
    to: &str,
    change: &str,
    plan: &str,
    price: i64,
    period_end: &str,
) -> Mail {
    let (subject, text) = match change {
        "created" => (
            "Your Buddo subscription has started",
            format!("You subscribed to {plan}. {price} points paid the first period, which ends at {period_end}; it renews then."),
        ),
        "renewed" => (
            "Your Buddo subscription was renewed",
            format!("{price} points paid the next period of {plan}, which ends at {period_end}."),
        ),
        "past_due" => (
            "Your Buddo subscription could not be renewed",
            format!("Renewing {plan} takes {price} points, and your balance is lower. Earn or receive points and the renewal will be tried again; if it still cannot be paid, the subscription will be canceled."),
        ),
        "plan_changed" => (
            "Your Buddo subscription's plan will change",
            format!("Your subscription moves to its new plan at the end of the current period ({period_end})."),
        ),
        "cancel_scheduled" => (
            "Your Buddo subscription will end",
            format!("Your subscription to {plan} will end at {period_end} and will not renew."),
        ),
        "paused" => (
            "Your Buddo subscription is paused",
            format!("Your subscription to {plan} will not renew until you resume it. The paid period ends at {period_end}."),
        ),
        "resumed" => (
            "Your Buddo subscription is active again",
            format!("Your subscription to {plan} renews again; the current period ends at {period_end}."),
        ),
        _ => (
            "Your Buddo subscription has ended",
            format!("Your subscription to {plan} has ended. You can subscribe again at any time."),
        ),
    };
    mail(to, subject, text)
}
