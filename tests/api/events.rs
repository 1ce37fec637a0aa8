//! The sample Lambda events in `events/`: one API Gateway HTTP API (payload 2.0) event per
//! route of every HTTP group (the lists come from the routers themselves; the streams' are
//! Function URL events), one DynamoDB
//! Streams event for the mailer and one schedule event for billing. Each event is decoded and converted exactly as `lambda_http`
//! does on Lambda, then sent through its group's router; a route without an event, or an
//! event that no route serves, fails.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use buddo_mailer::Mailer;
use buddo_shared::clock::Clock;
use buddo_shared::mail::{self, Mail, MailSender};
use buddo_shared::store::WriteOp;
use buddo_shared::AppState;
use http::StatusCode;
use lambda_http::request::{LambdaRequest, RequestContext};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::helpers::{json_body, Backend, TestApp};

/// An HTTP function: its events' file prefix, its routes, its Lambda router, and the API
/// Gateway route keys template.yaml sends to it.
struct Group {
    name: &'static str,
    routes: Vec<(String, &'static str)>,
    router: fn(AppState) -> axum::Router,
    route_keys: &'static [&'static str],
    /// Its callers hold OAuth access tokens (operator apps), not user JWTs.
    oauth: bool,
}

fn route_list(routes: buddo_shared::http::Routes) -> Vec<(String, &'static str)> {
    routes
        .list()
        .iter()
        .map(|r| (r.method.to_string(), r.path))
        .collect()
}

fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "auth",
            routes: route_list(buddo_auth::routes()),
            router: buddo_auth::router,
            route_keys: &[
                "ANY /api/auth/{proxy+}",
                "POST /api/auth/login",
                "POST /api/auth/register",
            ],
            oauth: false,
        },
        Group {
            name: "oauth",
            routes: route_list(buddo_oauth::routes()),
            router: buddo_oauth::router,
            route_keys: &[
                "ANY /api/oauth/{proxy+}",
                "POST /api/oauth/token",
                "GET /.well-known/oauth-authorization-server",
                "GET /.well-known/jwks.json",
                "GET /.well-known/openid-configuration",
                "ANY /oauth/{proxy+}",
                "GET /signin",
                "POST /signin",
                "ANY /signin/{proxy+}",
                "POST /signout",
                "GET /account",
                "POST /account/{proxy+}",
                "GET /signup",
                "POST /signup",
                "GET /signup/provider",
                "POST /signup/provider",
                "GET /forgot-password",
                "POST /forgot-password",
                "GET /reset-password",
                "POST /reset-password",
                "GET /verify-email",
                "POST /verify-email",
                "GET /confirm-email-change",
                "POST /confirm-email-change",
                "GET /undo-email-change",
                "POST /undo-email-change",
                "GET /assets/{proxy+}",
            ],
            oauth: false,
        },
        Group {
            name: "session",
            routes: route_list(buddo_session::routes()),
            router: buddo_session::router,
            route_keys: &["ANY /api/session/{proxy+}"],
            oauth: false,
        },
        Group {
            name: "stream",
            routes: route_list(buddo_stream::routes()),
            router: buddo_stream::router,
            route_keys: &["$default"],
            oauth: false,
        },
        Group {
            name: "user",
            routes: route_list(buddo_user::routes()),
            router: buddo_user::router,
            route_keys: &[
                "ANY /api/user/{proxy+}",
                "GET /api/users/{proxy+}",
                "GET /api/health",
                "GET /api/plans",
                "GET /api/openapi.json",
                "GET /api/docs",
            ],
            oauth: false,
        },
        Group {
            name: "admin",
            routes: route_list(buddo_admin::routes()),
            router: buddo_admin::router,
            route_keys: &["ANY /api/admin/{proxy+}"],
            oauth: false,
        },
        Group {
            name: "external",
            routes: route_list(buddo_external::routes()),
            router: buddo_external::router,
            route_keys: &["ANY /api/external/{proxy+}"],
            oauth: true,
        },
    ]
}

/// Error codes that mean the request never reached a handler, or its body was not what the
/// handler's body struct expects.
const NOT_HANDLED: [&str; 6] = [
    "not_found",
    "method_not_allowed",
    "invalid_request",
    "malformed_json",
    "unsupported_media_type",
    "payload_too_large",
];

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `events/<group>-*.json`, sorted by name.
fn group_events(group: &str) -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(events_dir())
        .expect("events/ directory")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with(&format!("{group}-")) && name.ends_with(".json")
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                read_json(p),
            )
        })
        .collect()
}

/// Whether a concrete path matches an axum path template (`{name}` matches one segment).
fn matches_template(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty()))
}

/// The route an event is for, by its `requestContext.http.method` and `rawPath`.
fn route_of(routes: &[(String, &'static str)], event: &Value) -> Option<(String, &'static str)> {
    let method = event["requestContext"]["http"]["method"].as_str()?;
    let path = event["rawPath"].as_str()?;
    routes
        .iter()
        .find(|(m, t)| m == method && matches_template(t, path))
        .cloned()
}

/// The fields API Gateway sends for one of the group's route keys on the `$default` stage.
#[track_caller]
fn assert_http_api_shape(
    name: &str,
    event: &Value,
    method: &str,
    needs_auth: bool,
    route_keys: &[&str],
) {
    let ctx = &event["requestContext"];
    let raw_path = event["rawPath"].as_str().expect("rawPath");
    let headers = &event["headers"];
    assert_eq!(event["version"], "2.0", "{name}");
    let route_key = event["routeKey"].as_str().expect("routeKey");
    assert!(
        route_keys.contains(&route_key),
        "{name}: routeKey {route_key} is none of {route_keys:?}"
    );
    // API Gateway picks the most specific route: an exact route key of the event's own
    // method and path (a route with settings of its own) wins over any proxy.
    let exact = format!("{method} {raw_path}");
    if route_keys.contains(&exact.as_str()) {
        assert_eq!(route_key, exact, "{name}: the route API Gateway picks");
    }
    // A Function URL (the streams): one `$default` route, no path parameters, its own domain.
    let function_url = route_key == "$default";
    if function_url {
        assert!(
            event.get("pathParameters").is_none(),
            "{name}: no path parameters"
        );
        assert!(
            ctx["domainName"]
                .as_str()
                .is_some_and(|d| d.contains(".lambda-url.") && d.ends_with(".on.aws")),
            "{name}: a Function URL's domain"
        );
    }
    let (key_method, key_path) = route_key.split_once(' ').unwrap_or((method, raw_path));
    match key_path.strip_suffix("{proxy+}").filter(|_| !function_url) {
        Some(prefix) => assert_eq!(
            event["pathParameters"]["proxy"].as_str(),
            raw_path.strip_prefix(prefix),
            "{name}: pathParameters.proxy"
        ),
        None => {
            assert_eq!((key_method, key_path), (method, raw_path), "{name}");
            assert!(
                event.get("pathParameters").is_none(),
                "{name}: no path parameters"
            );
        }
    }
    assert_eq!(ctx["routeKey"], event["routeKey"], "{name}");
    assert_eq!(ctx["stage"], "$default", "{name}");
    assert_eq!(ctx["http"]["path"], raw_path, "{name}");
    assert!(
        event["rawQueryString"].is_string(),
        "{name}: rawQueryString"
    );
    assert_eq!(event["isBase64Encoded"], false, "{name}");
    for field in [
        "accountId",
        "apiId",
        "domainName",
        "domainPrefix",
        "requestId",
        "time",
    ] {
        assert!(ctx[field].is_string(), "{name}: requestContext.{field}");
    }
    assert!(
        ctx["timeEpoch"].is_i64(),
        "{name}: requestContext.timeEpoch"
    );
    for field in ["protocol", "sourceIp", "userAgent"] {
        assert!(
            ctx["http"][field].is_string(),
            "{name}: requestContext.http.{field}"
        );
    }
    let header_names = headers.as_object().expect("headers");
    assert!(
        header_names.keys().all(|k| *k == k.to_ascii_lowercase()),
        "{name}: header names must be lower case"
    );
    for header in [
        "host",
        "user-agent",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-port",
    ] {
        assert!(headers[header].is_string(), "{name}: header {header}");
    }
    assert_eq!(headers["host"], ctx["domainName"], "{name}");
    assert_eq!(
        headers["authorization"]
            .as_str()
            .is_some_and(|v| v.starts_with("Bearer ")),
        needs_auth,
        "{name}: an authorization header exactly when the route needs one"
    );
    match event.get("body") {
        // A page's form, JSON lines (a user import), or JSON.
        Some(body) if headers["content-type"] == "application/x-ndjson" => {
            let body = body.as_str().expect("body is a string");
            for line in body.lines().filter(|l| !l.trim().is_empty()) {
                let line: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{name}: a line is not JSON: {e}"));
                assert!(line.is_object(), "{name}: each line is a JSON object");
            }
        }
        Some(body) if headers["content-type"] == "application/x-www-form-urlencoded" => {
            let body = body.as_str().expect("body is a string");
            assert!(
                url::form_urlencoded::parse(body.as_bytes()).count() > 0,
                "{name}: a form body"
            );
        }
        Some(body) => {
            let body: Value = serde_json::from_str(body.as_str().expect("body is a string"))
                .unwrap_or_else(|e| panic!("{name}: body is not JSON: {e}"));
            assert!(body.is_object(), "{name}: body is a JSON object");
            assert_eq!(headers["content-type"], "application/json", "{name}");
        }
        None => {
            assert!(
                headers.get("content-type").is_none(),
                "{name}: content-type without a body"
            );
        }
    }
    if method == "GET" {
        assert!(event.get("body").is_none(), "{name}: {method} with a body");
    }
}

/// Decodes an event and converts it into the `http::Request` the router gets on Lambda.
fn lambda_request(name: &str, event: &Value) -> lambda_http::Request {
    let decoded: LambdaRequest = serde_json::from_value(event.clone())
        .unwrap_or_else(|e| panic!("{name}: not an API Gateway event: {e}"));
    lambda_http::Request::from(decoded)
}

/// Sends one event through a router; returns the status and the JSON body.
async fn send(
    router: fn(AppState) -> axum::Router,
    state: &AppState,
    name: &str,
    event: &Value,
) -> (StatusCode, Value) {
    let request = lambda_request(name, event);
    assert_eq!(
        request.uri().path(),
        event["rawPath"].as_str().unwrap(),
        "{name}"
    );
    #[allow(irrefutable_let_patterns)] // more variants exist with other lambda_http features
    let Some(RequestContext::ApiGatewayV2(ctx)) = request.extensions().get::<RequestContext>() else {
        panic!("{name}: not decoded as an HTTP API (payload 2.0) event");
    };
    assert_eq!(ctx.stage.as_deref(), Some("$default"), "{name}");
    assert!(ctx.http.source_ip.is_some(), "{name}: sourceIp");

    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let html = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/"));
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("response body");
    // Pages (the docs, the hosted pages, their stylesheet) are the answers that are not JSON.
    let body = if html {
        Value::String(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        json_body(format!("{name}: {status}"), &bytes)
    };
    (status, body)
}

#[track_caller]
fn assert_handled(name: &str, pass: &str, status: StatusCode, body: &Value) {
    assert!(
        status != StatusCode::NOT_FOUND || body["error"] != "not_found",
        "{name} ({pass}): no route: {status} {body}"
    );
    assert_ne!(
        status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{name} ({pass}): {body}"
    );
    assert!(
        !status.is_server_error(),
        "{name} ({pass}): {status} {body}"
    );
    let code = body["error"].as_str().unwrap_or_default();
    assert!(
        !NOT_HANDLED.contains(&code) && code != "validation_failed",
        "{name} ({pass}): the handler rejected the request itself: {status} {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_has_an_api_gateway_event_that_reaches_its_handler() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let all_files: Vec<String> = std::fs::read_dir(events_dir())
        .expect("events/")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.starts_with("mailer-") && !n.starts_with("billing-"))
        .collect();
    let groups = groups();
    for file in &all_files {
        assert!(
            groups
                .iter()
                .any(|g| file.starts_with(&format!("{}-", g.name))),
            "{file} belongs to no HTTP group"
        );
    }
    for group in &groups {
        check_group(&app, group).await;
    }
}

async fn check_group(app: &TestApp, group: &Group) {
    let events = group_events(group.name);
    let routes = &group.routes;
    assert!(!routes.is_empty());

    // Exactly one event per route, and no event for a route that does not exist.
    for (name, event) in &events {
        assert!(
            route_of(routes, event).is_some(),
            "{name} is for no route of the {} router",
            group.name
        );
    }
    for (method, template) in routes {
        let files: Vec<&str> = events
            .iter()
            .filter(|(_, e)| {
                route_of(routes, e).is_some_and(|(m, t)| m == *method && t == *template)
            })
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(
            files.len(),
            1,
            "{method} {template}: want exactly one event in events/, found {files:?}"
        );
    }
    assert_eq!(events.len(), routes.len());

    for (name, event) in &events {
        let (method, _) = route_of(routes, event).unwrap();
        // Whether the route needs a user: without any credentials it answers 401.
        let mut anonymous = event.clone();
        anonymous["headers"]
            .as_object_mut()
            .unwrap()
            .remove("authorization");
        let (status, body) = send(group.router, &app.state, name, &anonymous).await;
        let needs_auth = status == StatusCode::UNAUTHORIZED && body["error"] == "invalid_token";
        assert_http_api_shape(name, event, &method, needs_auth, group.route_keys);

        // As written: the placeholder JWT is refused, so routes behind auth answer 401.
        let (status, body) = send(group.router, &app.state, name, event).await;
        assert!(
            status != StatusCode::NOT_FOUND || body["error"] != "not_found",
            "{name}: {body}"
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{name}: {body}");
        assert!(!status.is_server_error(), "{name}: {status} {body}");
        if needs_auth {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
            assert_eq!(body["error"], "invalid_token", "{name}: {body}");
            // With a live credential the handler itself runs and reads the body.
            let credential = if group.oauth {
                app.operated(&crate::helpers::ALL_SCOPES).await.access_token
            } else {
                app.login_ok(&app.new_user().await).await.token
            };
            let mut event = event.clone();
            event["headers"]["authorization"] = json!(format!("Bearer {credential}"));
            let (status, body) = send(group.router, &app.state, name, &event).await;
            assert_handled(name, "with a live session", status, &body);
        } else {
            assert_handled(name, "as written", status, &body);
        }
    }
}

/// Fails the test if the mailer sends anything it should not; records what it sends.
#[derive(Default)]
struct Recorder(Mutex<Vec<Mail>>);

#[async_trait]
impl MailSender for Recorder {
    async fn send(&self, _from: &str, mail: &Mail) -> anyhow::Result<String> {
        self.0.lock().unwrap().push(mail.clone());
        Ok("0100019b7a3e4c2d-provider-id".into())
    }
}

/// A DynamoDB attribute value (`{"S": ..}`, `{"N": ..}`, ...) as the plain JSON the store keeps.
fn plain(attr: &Value) -> Value {
    let (kind, v) = attr
        .as_object()
        .and_then(|m| m.iter().next())
        .unwrap_or_else(|| panic!("not an attribute value: {attr}"));
    match kind.as_str() {
        "S" => v.clone(),
        "N" => serde_json::from_str(v.as_str().expect("N is a string")).expect("a number"),
        "BOOL" => v.clone(),
        "NULL" => Value::Null,
        "M" => Value::Object(
            v.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), plain(v)))
                .collect(),
        ),
        "L" => Value::Array(v.as_array().unwrap().iter().map(plain).collect()),
        other => panic!("unexpected attribute type {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailer_event_is_an_outbox_insert_the_mailer_handles() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let event = read_json(&events_dir().join("mailer-outbox-insert.json"));
    let record = &event["Records"][0];
    let ddb = &record["dynamodb"];
    assert_eq!(record["eventName"], "INSERT");
    assert_eq!(record["eventSource"], "aws:dynamodb");
    assert_eq!(ddb["StreamViewType"], "NEW_IMAGE");
    assert!(ddb["SequenceNumber"].is_string());
    let pk = ddb["Keys"]["PK"]["S"].as_str().expect("Keys.PK.S");
    assert!(pk.starts_with("OUTBOX#"), "{pk}");
    assert_eq!(ddb["Keys"]["SK"]["S"], "OUTBOX");
    assert!(record["eventSourceARN"]
        .as_str()
        .is_some_and(|arn| arn.starts_with("arn:aws:dynamodb:") && arn.contains("/stream/")));

    // NewImage has exactly the attributes `mail::enqueue` writes, and the same key.
    let image: serde_json::Map<String, Value> = ddb["NewImage"]
        .as_object()
        .expect("NewImage")
        .iter()
        .map(|(k, v)| (k.clone(), plain(v)))
        .collect();
    let queued = mail::enqueue(
        Mail {
            to: "a@example.com".into(),
            subject: "s".into(),
            text: "t".into(),
        },
        app.clock.now(),
    );
    let WriteOp::Put { item: queued, .. } = queued else {
        panic!("enqueue is a put")
    };
    let mut want: Vec<&String> = queued.keys().collect();
    let mut got: Vec<&String> = image.keys().collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "NewImage attributes");
    assert_eq!(image["PK"], pk);
    assert_eq!(image["SK"], "OUTBOX");

    // The typed event Lambda hands the mailer.
    let typed: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_value(event.clone()).expect("a DynamoDB stream event");
    let nothing_failed = |r: aws_lambda_events::event::streams::DynamoDbEventResponse| {
        assert!(r.batch_item_failures.is_empty(), "{r:?}");
    };
    let sender = Arc::new(Recorder::default());
    let mailer = Mailer {
        table: app.state.table.clone(),
        sender: sender.clone(),
        from: "no-reply@buddo.test".into(),
        clock: app.clock.clone(),
        send_deadline: std::time::Duration::from_secs(5),
    };

    // The item is not in this table: nothing to send, and not an error to retry.
    nothing_failed(mailer.handle(&typed).await);
    assert!(sender.0.lock().unwrap().is_empty());

    // Once the item the record announces exists, the same event sends it, once.
    // The sample is from a fixed date: move the clock there, or its `ttl` has already passed.
    let created = ddb["ApproximateCreationDateTime"]
        .as_i64()
        .expect("ApproximateCreationDateTime");
    app.clock
        .advance(created - app.clock.now().unix_timestamp());
    app.state
        .table
        .write(vec![WriteOp::put_new(image.clone())])
        .await
        .expect("put the outbox item");
    nothing_failed(mailer.handle(&typed).await);
    nothing_failed(mailer.handle(&typed).await);
    let sent = sender.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].to, image["to"].as_str().unwrap());
    assert_eq!(sent[0].subject, image["subject"].as_str().unwrap());
    assert_eq!(sent[0].text, image["text"].as_str().unwrap());
}

/// On Lambda the client address is API Gateway's `sourceIp`: limits count per that address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_count_the_api_gateway_source_ip() {
    let app = TestApp::spawn_with(Backend::Embedded, |c| {
        c.rate_limits.forgot_password = buddo_shared::config::Limit::new(1, 3600);
    })
    .await;
    let event = read_json(&events_dir().join("auth-forgot-password.json"));
    let from = |ip: &str| {
        let mut e = event.clone();
        e["requestContext"]["http"]["sourceIp"] = Value::String(ip.to_string());
        e
    };
    let router = buddo_auth::router;
    let (first, _) = send(router, &app.state, "first", &from("198.51.100.7")).await;
    assert_eq!(first, StatusCode::OK);
    let (again, body) = send(router, &app.state, "again", &from("198.51.100.7")).await;
    assert_eq!(again, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (other, _) = send(router, &app.state, "other", &from("203.0.113.9")).await;
    assert_eq!(other, StatusCode::OK);
}

/// API Gateway answers CORS preflights itself: the template must allow what the routers use,
/// the same as the local server does.
#[test]
fn the_template_allows_the_methods_and_headers_the_routes_use() {
    let template =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml"))
            .expect("template.yaml");
    let list = |key: &str| -> Vec<String> {
        let line = template
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} in template.yaml"));
        let mut items: Vec<String> = line
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        items.sort();
        items
    };
    let mut methods: Vec<String> = buddo::routes()
        .methods()
        .iter()
        .map(|m| m.to_string())
        .chain(["OPTIONS".to_string()])
        .collect();
    methods.sort();
    assert_eq!(list("AllowMethods:"), methods);
    assert_eq!(
        list("AllowHeaders:"),
        ["authorization", "content-type", "idempotency-key"]
    );
}

/// The `Method Path` route keys of each function's HttpApi events in template.yaml, and
/// `$default` for a function served by its streaming Function URL.
fn template_route_keys() -> std::collections::BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml"))
        .expect("template.yaml");
    let mut keys: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut function = None;
    let mut method = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
            if !name.starts_with(' ') {
                function = name.strip_suffix("Function").map(str::to_lowercase);
            }
        }
        let trimmed = line.trim();
        if trimmed == "InvokeMode: RESPONSE_STREAM" {
            // A Function URL: every request, one `$default` route.
            if let Some(f) = &function {
                keys.entry(f.clone()).or_default().push("$default".into());
            }
        } else if let Some(m) = trimmed.strip_prefix("Method: ") {
            method = Some(m.to_string());
        } else if let (Some(p), Some(f), Some(m)) =
            (trimmed.strip_prefix("Path: "), &function, method.take())
        {
            keys.entry(f.clone()).or_default().push(format!("{m} {p}"));
        }
    }
    keys
}

#[test]
fn the_template_routes_exactly_these_keys_to_each_function() {
    let template = template_route_keys();
    for group in groups() {
        let mut expected: Vec<String> = group.route_keys.iter().map(|k| k.to_string()).collect();
        expected.sort();
        let mut actual = template.get(group.name).cloned().unwrap_or_default();
        actual.sort();
        assert_eq!(
            actual, expected,
            "template.yaml routes for the {} function",
            group.name
        );
    }
}

/// The billing function's schedule event: what EventBridge Scheduler sends (the function reads
/// nothing from it), handled as on Lambda: the renewals run and answer their report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_billing_event_is_a_schedule_the_billing_function_handles() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let event = read_json(&events_dir().join("billing-schedule.json"));
    assert_eq!(event["detail-type"], "Scheduled Event");
    assert_eq!(event["source"], "aws.scheduler");
    assert!(event["resources"][0].as_str().is_some_and(|arn| arn
        .starts_with("arn:aws:scheduler:")
        && arn.contains("RenewalSchedule")));
    let template =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml"))
            .unwrap();
    assert!(template.contains("RenewalSchedule:\n          Type: ScheduleV2"));
    let report = buddo_billing::handle(&app.state)
        .await
        .expect("a run over an empty table");
    assert_eq!(
        serde_json::to_value(&report).unwrap(),
        json!({ "renewed": 0, "past_due": 0, "canceled": 0, "failed": 0 })
    );
}
