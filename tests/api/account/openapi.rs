//! The OpenAPI document: generated from the handlers, committed as `docs/openapi.json`,
//! served at `/api/openapi.json`; it names every route of every router and nothing else. A
//! fuzzer not written here (schemathesis) checks the running API against it, and a client
//! generated from it by another (openapi-python-client) works.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{from_run_sh, TestApp};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json")
}

fn document() -> Value {
    serde_json::from_str(&buddo::openapi_json()).expect("the document is JSON")
}

/// Every operation of the document: (METHOD, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

fn tools_dir() -> PathBuf {
    PathBuf::from(from_run_sh(
        "BUDDO_TEST_API_TOOLS",
        "installs schemathesis and openapi-python-client",
    ))
}

#[test]
fn the_committed_document_is_the_one_the_code_describes() {
    let generated = buddo::openapi_json();
    let path = committed_path();
    if std::env::var_os("BUDDO_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("writing docs/openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run `cargo run -- openapi > docs/openapi.json` \
         (or the tests with BUDDO_UPDATE_OPENAPI=1) and commit it"
    );
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let pages: BTreeSet<(String, String)> = buddo_oauth::page_routes()
        .list()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let routed: BTreeSet<(String, String)> = buddo::routes()
        .list()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .filter(|route| !pages.contains(route))
        .collect();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty(),
        "routes without documentation: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "documented operations no router serves: {extra:?}"
    );
    // Each Lambda function's router is part of the whole.
    for group in [
        buddo_auth::routes(),
        buddo_oauth::routes(),
        buddo_session::routes(),
        buddo_user::routes(),
        buddo_admin::routes(),
        buddo_external::routes(),
    ] {
        for r in group.list() {
            let route = (r.method.to_string(), r.path.to_string());
            assert!(
                documented.contains(&route) || pages.contains(&route),
                "{r:?}"
            );
        }
    }
}

#[test]
fn every_operation_is_described_completely() {
    let doc = document();
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    for name in ["user_jwt", "oauth2", "client_basic"] {
        assert!(schemes.contains_key(name), "{name}");
    }
    let scopes: BTreeSet<&str> = schemes["oauth2"]["flows"]["authorizationCode"]["scopes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = buddo_shared::domain::oauth::scopes::Scope::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(scopes, expected);
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let what = format!("{method} {path}");
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{what}: summary"
        );
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: operationId"));
        assert!(
            ids.insert(id.to_string()),
            "{what}: operationId {id} is used twice"
        );
        let op_tags = op["tags"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: tags"));
        assert!(
            op_tags.iter().all(|t| tags.contains(t.as_str().unwrap())),
            "{what}: undeclared tag"
        );
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{what}: a success response"
        );
        assert!(
            responses.contains_key("default"),
            "{what}: the error response"
        );
        for (status, response) in responses {
            if response.get("$ref").is_some() {
                continue;
            }
            // RFC 7009 revocation answers 200 with an empty body; everything else has one.
            if id != "revoke" {
                assert!(response["content"].is_object(), "{what} {status}: content");
            }
        }
        for requirement in op["security"].as_array().into_iter().flatten() {
            for (scheme, needed) in requirement.as_object().unwrap() {
                assert!(schemes.contains_key(scheme), "{what}: {scheme}");
                for scope in needed.as_array().unwrap() {
                    assert!(
                        scopes.contains(scope.as_str().unwrap()),
                        "{what}: scope {scope}"
                    );
                }
            }
        }
        // Path parameters are declared.
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            let declared = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"] == name && p["in"] == "path");
            assert!(declared, "{what}: path parameter {name}");
        }
    }
}

/// Runs a command off the async runtime; panics with its output unless it succeeds.
async fn run(mut command: Command, what: &str) -> String {
    let what = what.to_string();
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

backend_tests! {
    async fn the_document_and_the_docs_page_are_served(backend) {
        let app = TestApp::spawn(backend).await;
        let resp = app.client.get(app.url("/api/openapi.json")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let served: Value = resp.json().await.unwrap();
        let committed: Value = serde_json::from_str(&std::fs::read_to_string(committed_path()).unwrap()).unwrap();
        assert_eq!(served, committed);

        let resp = app.client.get(app.url("/api/docs")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let page = resp.text().await.unwrap();
        assert!(page.contains(r#"data-url="openapi.json""#), "{page}");
    }

    // schemathesis sends generated requests to every operation of the served document, each
    // with the credential it takes — an admin's token (admins may call every user operation
    // too), an operator app's access token, client credentials at the token endpoints — and
    // checks every answer: no 5xx, a documented status, a body and content type that match.
    async fn schemathesis_finds_no_server_error_and_no_answer_off_the_document(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        app.promote(&user).await;
        let token = app.login_ok(&user).await.token;
        let operated = app.operated(&crate::helpers::ALL_SCOPES).await;
        let base = format!("http://{}", app.addr);
        let work = std::env::temp_dir().join(format!("schemathesis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&work).unwrap();
        let config = work.join("schemathesis.toml");
        let settings = format!(
            "[auth.openapi.user_jwt]\nbearer = \"{token}\"\n\n\
             [auth.openapi.client_basic]\nusername = \"{}\"\npassword = \"{}\"\n\n\
             [[operations]]\ninclude-path-regex = \"^/api/external/\"\n\
             headers = {{ Authorization = \"Bearer {}\" }}\n",
            operated.client.client_id, operated.client.client_secret, operated.access_token,
        );
        std::fs::write(&config, settings).unwrap();
        let mut command = Command::new(tools_dir().join("schemathesis"));
        command
            .arg("--config-file").arg(&config)
            .arg("--no-color")
            .arg("run")
            .arg(format!("{base}/api/openapi.json"))
            .args(["--url", &base])
            .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance"])
            .args(["--max-examples", "50", "--workers", "1", "--seed", "1"])
            .args(["--phases", "examples,coverage,fuzzing"])
            // Signing out would end the session the rest of the run uses.
            .args(["--exclude-path", "/api/auth/logout"])
            // Streams go on until their end: tests/api/account/stream.rs reads them.
            .args(["--exclude-path", "/api/user/activity/stream"])
            .args(["--exclude-path", "/api/admin/activity/stream"])
            // Schemathesis has no serializer for JSON lines (`application/x-ndjson`): the
            // import's bad input is tested in tests/api/account/import_export.rs.
            .args(["--exclude-path", "/api/admin/users/import"])
            .current_dir(&work);
        let out = run(command, "schemathesis").await;
        std::fs::remove_dir_all(&work).ok();
        assert!(!out.contains("Runtime Error"), "{out}");
        assert!(out.contains(" passed"), "{out}");
    }

    // A Python client generated from the served document by openapi-python-client works as
    // an app developer's code would use it (`tests/generated_client.py`): register, sign in,
    // fill in a profile and settings, find a friend; then, as an operator app, authorization
    // code + PKCE and the operator API with the access token.
    async fn a_generated_client_works(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read", "points:read"], true).await;
        let friend = app.new_user().await;
        let base = format!("http://{}", app.addr);
        let work = std::env::temp_dir().join(format!("buddo-client-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&work).unwrap();
        let tools = tools_dir();
        // The generator formats its output with ruff, which sits beside it.
        let path = format!("{}:{}", tools.display(), std::env::var("PATH").unwrap_or_default());
        let mut generate = Command::new(tools.join("openapi-python-client"));
        generate
            .arg("generate")
            .args(["--url", &format!("{base}/api/openapi.json")])
            .args(["--meta", "none", "--output-path"])
            .arg(work.join("buddo_client"))
            .env("PATH", &path)
            .current_dir(&work);
        let generated = run(generate, "openapi-python-client generate").await;
        assert!(!generated.contains("Warning"), "the generator warned:\n{generated}");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/generated_client.py");
        let mut use_it = Command::new(tools.join("python"));
        use_it
            .arg(script)
            .args([&base, &client.client_id, &client.client_secret, &client.redirect_uri, &friend.username])
            .env("PYTHONPATH", &work);
        let out = run(use_it, "the generated client").await;
        std::fs::remove_dir_all(&work).ok();
        let seen: Value = serde_json::from_str(out.trim()).expect("one JSON line");
        assert_eq!(seen["display_name"], "Generated Gina");
        assert_eq!(seen["settings_theme"], "dark");
        assert_eq!(seen["search_found"], true);
        assert_eq!(seen["public_username"], friend.username.as_str());
        assert_eq!(seen["operator_user_id"], seen["user_id"]);
        assert_eq!(seen["points"], 0);
        assert_eq!(seen["scope"], "profile:read points:read");
    }
}
