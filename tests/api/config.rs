//! The configuration's documentation matches the code: every variable `Config` reads is in
//! `.env.example` and in the README's configuration table. A binary refuses, at start, a
//! configuration that asks for what it is built without.

use std::path::Path;

use buddo_shared::config::{Config, Features};
use buddo_shared::http::check_can_serve;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect(path)
}

#[test]
fn every_variable_is_in_the_env_example_and_the_readme() {
    // The names the parsers ask for, recorded as they parse an empty environment.
    let names = Config::variables();
    assert!(names.len() > 40, "found only {names:?}");
    let example = read(".env.example");
    let readme = read("README.md");
    for name in &names {
        assert!(
            example.contains(&format!("# {name}=")),
            ".env.example lacks {name}"
        );
        assert!(
            readme.contains(&format!("`{name}`")),
            "the README's configuration table lacks {name}"
        );
    }
}

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
}

/// The error `built` gets for `config`, checked to be one line naming `variable`.
fn refused(config: &Config, built: Features, sends_mail: bool, variable: &str) -> String {
    let error = config
        .check_features(built, sends_mail)
        .expect_err(variable)
        .to_string();
    assert!(
        error.starts_with(&format!("configuration: {variable}: ")) && !error.contains('\n'),
        "{error}"
    );
    error
}

#[test]
fn a_binary_refuses_a_backend_it_is_built_without() {
    // The tests (like the buddo binary) carry everything: the cfg names are the features'.
    assert_eq!(Features::BUILT, Features::ALL);
    let lean = Features::NONE;

    // The embedded store, the default, and the memory store.
    let default = config(&[]);
    assert!(default.check_features(Features::ALL, true).is_ok());
    let error = refused(&default, lean, false, "BUDDO_STORE");
    assert!(
        error.contains("embedded (the default)") && error.contains("set BUDDO_STORE=dynamodb"),
        "{error}"
    );
    let memory = config(&[("BUDDO_STORE", "memory")]);
    assert!(refused(&memory, lean, false, "BUDDO_STORE").contains("memory needs"));
    let embedded = Features {
        embedded: true,
        ..lean
    };
    assert!(memory.check_features(embedded, false).is_ok());

    // On DynamoDB a binary with nothing else runs.
    let dynamo = [("BUDDO_STORE", "dynamodb")];
    assert!(config(&dynamo).check_features(lean, true).is_ok());

    // Secrets Manager: only the auth and oauth functions read it.
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf";
    let secrets = Features {
        secrets: true,
        ..lean
    };
    for variable in ["JWT_SIGNING_KEY_SECRET_ARN", "ID_TOKEN_KEYS_SECRET_ARN"] {
        let asks = config(&[dynamo[0], (variable, arn)]);
        assert!(refused(&asks, lean, false, variable).contains("cargo feature `secrets`"));
        assert!(asks.check_features(secrets, false).is_ok());
    }

    // SES: only a process that sends mail needs it; the HTTP functions queue mail.
    let ses_mail = config(&[dynamo[0], ("MAIL_BACKEND", "ses")]);
    assert!(ses_mail.check_features(lean, false).is_ok());
    let error = refused(&ses_mail, lean, true, "MAIL_BACKEND");
    assert!(error.contains("cargo feature `ses`"), "{error}");
    let ses = Features { ses: true, ..lean };
    assert!(ses_mail.check_features(ses, true).is_ok());
}

#[test]
fn a_function_binary_serves_outside_lambda_only_with_the_server() {
    let lean = Features::NONE;
    assert!(check_can_serve(true, lean).is_ok());
    assert!(check_can_serve(false, Features::ALL).is_ok());
    let error = check_can_serve(false, lean).unwrap_err().to_string();
    assert!(
        error.contains("AWS_LAMBDA_RUNTIME_API")
            && error.contains("cargo lambda watch")
            && error.contains("--features local")
            && !error.contains('\n'),
        "{error}"
    );
}
