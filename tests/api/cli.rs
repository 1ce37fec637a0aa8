//! The `buddo` binary: help, the local server with console mail, `admin promote` and
//! `admin enable` on both backends, and `admin import` and `admin export`.

use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use buddo_shared::clock::{Clock, SystemClock};
use buddo_shared::domain::account::deletion;
use buddo_shared::domain::identity::accounts::{self, Registration};
use buddo_shared::domain::identity::users;
use buddo_shared::domain::input::{Email, Password, Username};
use buddo_shared::domain::RequestMeta;
use buddo_shared::id_token::{IdTokenAlg, IdTokenKeys};
use buddo_shared::jwt::{JwtKeys, SigningKeyPair};
use buddo_shared::store::{DynamoTable, EmbeddedTable, SharedTable};
use buddo_shared::AppState;
use serde_json::json;

use crate::helpers::{dynamodb_client, dynamodb_endpoint, test_config};

const BIN: &str = env!("CARGO_BIN_EXE_buddo");

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("buddo-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn buddo(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("BUDDO_STORE")
        .env_remove("BUDDO_DATA_DIR")
        .env_remove("TABLE_NAME")
        .env_remove("PUBLIC_API_URL")
        .env_remove("PUBLIC_WEB_URL")
        .env_remove("ID_TOKEN_KEYS")
        .env_remove("ID_TOKEN_KEYS_SECRET_ARN")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

/// `buddo admin promote <email> --data-dir <dir>`.
fn promote(email: &str, dir: &std::path::Path) -> Command {
    buddo(&[
        "admin",
        "promote",
        email,
        "--data-dir",
        dir.to_str().unwrap(),
    ])
}

fn state_over(table: SharedTable) -> AppState {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let config = test_config();
    let keys = JwtKeys::new(&config.jwt, Some(SigningKeyPair::generate()), None).unwrap();
    AppState::with_keys(config, table, clock, keys).unwrap()
}

async fn register(table: SharedTable, email: &str) -> String {
    let state = state_over(table);
    let registration = Registration {
        email: Email::parse("email", email).unwrap(),
        username: Username::parse("cliuser").unwrap(),
        password: Password::parse("password", "correct horse battery").unwrap(),
        referral_code: None,
        marketing_opt_in: false,
    };
    accounts::register(&state, registration, &RequestMeta::default())
        .await
        .unwrap()
        .id
}

/// Registers a user and has an admin (another account) disable it; returns its id.
async fn register_disabled(table: SharedTable, email: &str) -> String {
    let id = register(table.clone(), email).await;
    let admin_id = uuid::Uuid::new_v4().to_string();
    let user = deletion::set_disabled(&state_over(table), &admin_id, &id, true)
        .await
        .unwrap();
    assert!(user.disabled);
    id
}

/// `buddo admin enable <email> --data-dir <dir>`.
fn enable(email: &str, dir: &std::path::Path) -> Command {
    buddo(&[
        "admin",
        "enable",
        email,
        "--data-dir",
        dir.to_str().unwrap(),
    ])
}

#[test]
fn help_lists_the_options() {
    let out = buddo(&["--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for option in [
        "--port",
        "--data-dir",
        "--dynamodb",
        "admin promote",
        "admin enable",
        "keygen",
    ] {
        assert!(text.contains(option), "{option} missing from:\n{text}");
    }
    let bad = buddo(&["--nope"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn keygen_prints_a_usable_key_pair() {
    let out = buddo(&["keygen"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let pair = SigningKeyPair::parse(lines[0]).unwrap();
    let jwks: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(jwks["keys"][0]["x"], pair.public_x());
    assert_eq!(jwks["keys"][0]["kid"], pair.kid);
}

#[test]
fn keygen_prints_id_token_keys() {
    let out = buddo(&["keygen", "--id-token"]).output().unwrap();
    assert_succeeded(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let keys = IdTokenKeys::parse(lines[0]).unwrap();
    let jwks: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(jwks["keys"], json!(keys.jwks_keys()));
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    assert_eq!(jwks["keys"][1]["alg"], "EdDSA");
    let token = keys
        .sign(IdTokenAlg::Rs256, &json!({ "iss": "x" }))
        .unwrap();
    assert!(keys.verify_hint(&token, "x").is_some());
}

/// The lines of a command's output that are not comments.
fn printed(args: &[&str]) -> Vec<String> {
    let out = buddo(args).output().unwrap();
    assert_succeeded(&out);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn keygen_previous_keeps_the_current_key_published_for_a_rotation() {
    let first = printed(&["keygen"]);
    let old = SigningKeyPair::parse(&first[0]).unwrap();
    let rotation = printed(&["keygen", "--previous", &first[1]]);
    assert_eq!(rotation.len(), 3, "{rotation:?}");
    let new = SigningKeyPair::parse(&rotation[0]).unwrap();
    assert_ne!(new.kid, old.kid);
    let during: serde_json::Value = serde_json::from_str(&rotation[1]).unwrap();
    let after: serde_json::Value = serde_json::from_str(&rotation[2]).unwrap();
    let kids = |jwks: &serde_json::Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(kids(&during), [new.kid.as_str(), old.kid.as_str()]);
    assert_eq!(kids(&after), [new.kid.as_str()]);

    // What verify-only functions do with each set.
    let config = test_config().jwt;
    let sign = |pair: &SigningKeyPair| {
        let signer = JwtKeys::new(
            &config,
            Some(SigningKeyPair::parse(&pair.to_secret_text()).unwrap()),
            None,
        )
        .unwrap();
        signer.issue("u", "s", 1_000).unwrap().0
    };
    let (old_token, new_token) = (sign(&old), sign(&new));
    let verifier = JwtKeys::new(&config, None, Some(&rotation[1])).unwrap();
    assert!(verifier.verify(&old_token, 1_001).is_ok());
    assert!(verifier.verify(&new_token, 1_001).is_ok());
    let verifier = JwtKeys::new(&config, None, Some(&rotation[2])).unwrap();
    assert_eq!(
        verifier.verify(&old_token, 1_001),
        Err(buddo_shared::jwt::JwtError::UnknownKey)
    );
    assert!(verifier.verify(&new_token, 1_001).is_ok());

    // A set that is not a JWKS, or holds a key no function accepts, is refused by name.
    for bad in [
        "nope",
        r#"{"keys": [{"kid": "k", "x": "AAAA", "crv": "P-256"}]}"#,
    ] {
        let out = buddo(&["keygen", "--previous", bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--previous"),
            "{bad}"
        );
    }
}

#[test]
fn keygen_id_token_previous_keeps_the_current_keys_published() {
    let first = printed(&["keygen", "--id-token"]);
    let old = IdTokenKeys::parse(&first[0]).unwrap();
    let rotation = printed(&["keygen", "--id-token", "--previous", &first[1]]);
    let keys = IdTokenKeys::parse(&rotation[0]).unwrap();
    let jwks: serde_json::Value = serde_json::from_str(&rotation[1]).unwrap();
    assert_eq!(jwks["keys"], json!(keys.jwks_keys()));
    // The new keys sign and come first; the old ones follow, published and verify-only.
    assert_eq!(keys.kids().len(), 4);
    assert_eq!(keys.kids()[2..], old.kids()[..]);
    for alg in IdTokenAlg::ALL {
        assert_ne!(keys.kid(alg), old.kid(alg));
        let hint = old.sign(alg, &json!({ "iss": "x" })).unwrap();
        assert!(keys.verify_hint(&hint, "x").is_some(), "{alg}");
    }
}

/// A data dir whose embedded store holds one user with `email`, disabled if asked; its id.
async fn data_dir_with_user(email: &str, disabled: bool) -> (std::path::PathBuf, String) {
    let dir = temp_dir();
    let table: SharedTable =
        Arc::new(EmbeddedTable::open(&dir.join("buddo.redb"), Arc::new(SystemClock)).unwrap());
    let id = if disabled {
        register_disabled(table, email).await
    } else {
        register(table, email).await
    };
    // The table above is closed now; the CLI opens the same file.
    (dir, id)
}

/// A new table on DynamoDB Local holding one user with `email`, disabled if asked: the
/// table's name, the table, the user's id.
async fn dynamodb_with_user(email: &str, disabled: bool) -> (String, SharedTable, String) {
    let name = format!("cli-{}", uuid::Uuid::new_v4().simple());
    let table = DynamoTable::new(dynamodb_client(), name.clone(), Arc::new(SystemClock));
    table.create_table().await.unwrap();
    let table: SharedTable = Arc::new(table);
    let id = if disabled {
        register_disabled(table.clone(), email).await
    } else {
        register(table.clone(), email).await
    };
    (name, table, id)
}

/// The user as the embedded store under `dir` has it (once the CLI has let go of it).
async fn stored_user(dir: &std::path::Path, id: &str) -> users::User {
    let table = EmbeddedTable::open(&dir.join("buddo.redb"), Arc::new(SystemClock)).unwrap();
    users::get(&table, id).await.unwrap().unwrap()
}

#[track_caller]
fn assert_succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_promote_on_the_embedded_store() {
    let (dir, id) = data_dir_with_user("cli@example.com", false).await;
    let out = promote("CLI@example.com", &dir).output().unwrap();
    assert_succeeded(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("is now an admin"));
    assert!(stored_user(&dir, &id).await.is_admin);

    let missing = promote("nobody@example.com", &dir).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(dir);
}

/// `buddo admin <args> --dynamodb` against the table `name` on DynamoDB Local.
fn admin_on_dynamodb(args: &[&str], name: &str, dir: &std::path::Path) -> Output {
    let mut all = vec!["admin"];
    all.extend_from_slice(args);
    all.extend(["--dynamodb", "--data-dir", dir.to_str().unwrap()]);
    buddo(&all)
        .env("TABLE_NAME", name)
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_promote_on_dynamodb() {
    let (name, table, id) = dynamodb_with_user("cli@example.com", false).await;
    let dir = temp_dir();
    let out = admin_on_dynamodb(&["promote", "cli@example.com"], &name, &dir);
    assert_succeeded(&out);
    assert!(
        users::get(table.as_ref(), &id)
            .await
            .unwrap()
            .unwrap()
            .is_admin
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_enable_on_the_embedded_store() {
    let (dir, id) = data_dir_with_user("locked@example.com", true).await;
    let out = enable("Locked@example.com", &dir).output().unwrap();
    assert_succeeded(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("is enabled"));
    assert!(!stored_user(&dir, &id).await.disabled);

    let missing = enable("nobody@example.com", &dir).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_enable_on_dynamodb() {
    let (name, table, id) = dynamodb_with_user("locked@example.com", true).await;
    let dir = temp_dir();
    let out = admin_on_dynamodb(&["enable", "locked@example.com"], &name, &dir);
    assert_succeeded(&out);
    assert!(
        !users::get(table.as_ref(), &id)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// An admin command against a data dir that does not exist (a typo, the wrong checkout) says
/// so, naming it, instead of creating an empty store and answering that nobody is there.
#[test]
fn admin_commands_refuse_a_data_dir_that_does_not_exist() {
    let dir = std::env::temp_dir().join(format!(
        "buddo-cli-missing-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let dir_arg = dir.to_str().unwrap();
    for args in [
        vec!["admin", "promote", "ann@example.com", "-d", dir_arg],
        vec!["admin", "enable", "ann@example.com", "-d", dir_arg],
        vec!["admin", "mail", "retry", "-d", dir_arg],
    ] {
        let out = buddo(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(dir_arg), "{stderr}");
        assert!(stderr.contains("does not exist"), "{stderr}");
        assert!(!dir.exists(), "{args:?} created {}", dir.display());
    }
    // The same through BUDDO_DATA_DIR.
    let out = buddo(&["admin", "promote", "ann@example.com"])
        .env("BUDDO_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(dir_arg));
    assert!(!dir.exists());
}

/// `create-table` makes the table and writes nothing locally (no signing key in the data dir).
#[test]
fn create_table_writes_nothing_locally() {
    let dir = temp_dir();
    let name = format!("cli-{}", uuid::Uuid::new_v4().simple());
    let out = admin_on_dynamodb(&["create-table"], &name, &dir);
    assert_succeeded(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("table is ready"));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    let _ = std::fs::remove_dir_all(dir);
}

/// Bad arguments are named, with the usage status 2.
#[test]
fn bad_arguments_are_named() {
    for (args, named) in [
        (vec!["--port", "eighty"], "--port"),
        (vec!["admin", "promote", "not-an-email"], "not-an-email"),
        (vec!["admin", "demote", "ann@example.com"], "demote"),
    ] {
        let out = buddo(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    let out = buddo(&["admin", "promote", "ann@example.com"])
        .env("PORT", "eighty")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("eighty"));
}

/// `buddo openapi` prints the committed document.
#[test]
fn openapi_prints_the_document() {
    let out = buddo(&["openapi"]).output().unwrap();
    assert_succeeded(&out);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        buddo::openapi_json()
    );
}

/// A running `buddo` server; killed when dropped.
struct Server {
    child: std::process::Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the local server on a free port over `dir` and waits until it registers a user.
async fn start_server(dir: &std::path::Path, register: &serde_json::Value) -> Server {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = buddo(&[
        "--port",
        &port.to_string(),
        "--data-dir",
        dir.to_str().unwrap(),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let server = Server { child, port };
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/auth/register");
    let mut status = None;
    for _ in 0..100 {
        if let Ok(resp) = client.post(&url).json(register).send().await {
            status = Some(resp.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, Some(201));
    server
}

/// `cargo run` as a new user meets it: the server starts with no configuration, registration
/// works, and the verification mail appears on the console and under the data dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_server_serves_and_delivers_mail() {
    let dir = temp_dir();
    let body = json!({ "email": "local@example.com", "username": "local", "password": "correct horse battery" });
    let mut server = start_server(&dir, &body).await;
    let stdout = server.child.stdout.take().unwrap();

    let mail_dir = dir.join("mail");
    let mut text = String::new();
    for _ in 0..50 {
        if let Some(Ok(entry)) = std::fs::read_dir(&mail_dir).ok().and_then(|mut d| d.next()) {
            text = std::fs::read_to_string(entry.path()).unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        text.contains("To: local@example.com"),
        "no mail saved: {text:?}"
    );
    // The link names the server's own address (PUBLIC_WEB_URL unset).
    let link = format!("http://localhost:{}/verify-email?token=", server.port);
    assert!(text.contains(&link), "{text}");
    // The same mail went to the console.
    let console = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, BufReader};
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.contains("end of mail"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let console = tokio::time::timeout(Duration::from_secs(10), console)
        .await
        .unwrap()
        .unwrap();
    assert!(
        console.contains("Subject: Verify your Buddo email address"),
        "{console}"
    );
    assert!(dir.join("buddo.redb").exists());
    assert!(dir.join("jwt-signing-key").exists());
    assert!(dir.join("id-token-keys").exists());
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// On another port than 3000, with neither PUBLIC_API_URL nor PUBLIC_WEB_URL, the server names
/// its own address as the OAuth issuer; its JWKS lists the access-token key and both ID-token
/// keys, which it keeps in the data dir for its owner only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_server_names_the_port_it_listens_on() {
    let dir = temp_dir();
    let body = json!({ "email": "port@example.com", "username": "porter", "password": "correct horse battery" });
    let server = start_server(&dir, &body).await;
    assert_ne!(server.port, 3000);
    let base = format!("http://localhost:{}", server.port);
    let get = |path: &str| {
        let url = format!("http://127.0.0.1:{}{path}", server.port);
        async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let metadata = get("/.well-known/oauth-authorization-server").await;
    assert_eq!(metadata["issuer"], base.as_str(), "{metadata}");
    for endpoint in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
        let url = metadata[endpoint].as_str().unwrap();
        assert!(url.starts_with(&format!("{base}/")), "{endpoint}: {url}");
    }
    let jwks = get("/.well-known/jwks.json").await;
    let keys = jwks["keys"].as_array().unwrap();
    let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["EdDSA", "RS256", "EdDSA"], "{jwks}");
    kids.sort();
    kids.dedup();
    assert_eq!(kids.len(), 3, "{jwks}");
    let stored =
        IdTokenKeys::parse(&std::fs::read_to_string(dir.join("id-token-keys")).unwrap()).unwrap();
    assert_eq!(keys[1..], stored.jwks_keys()[..]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("id-token-keys"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// One embedded store serves one process: a second one says in one line who has it and what
/// to do instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_in_use_is_named_in_one_line() {
    let dir = temp_dir();
    let body = json!({ "email": "busy@example.com", "username": "busy", "password": "correct horse battery" });
    let server = start_server(&dir, &body).await;
    let out = promote("busy@example.com", &dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    let pid = server.child.id();
    assert!(
        stderr.contains(&format!("in use by process {pid} (buddo)")),
        "{stderr}"
    );
    assert!(stderr.contains("DynamoDB Local"), "{stderr}");
    assert!(stderr.contains("--data-dir"), "{stderr}");
    drop(server);
    // Once the server is gone the store opens again.
    let out = promote("busy@example.com", &dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A port in use is named, with the way to choose another.
#[test]
fn a_port_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = temp_dir();
    let out = buddo(&["--port", &port, "--data-dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!("port {port} is in use")),
        "{stderr}"
    );
    assert!(stderr.contains("-p/--port or PORT"), "{stderr}");
    drop(taken);
    let _ = std::fs::remove_dir_all(dir);
}

/// `buddo admin <args> --data-dir <dir>`.
fn admin_in(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut all = vec!["admin"];
    all.extend_from_slice(args);
    all.extend(["--data-dir", dir.to_str().unwrap()]);
    buddo(&all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_import_and_export_move_users_with_their_passwords() {
    use buddo_shared::password::Verified;
    use std::io::Write;

    const BCRYPT: &str = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
    let (dir, _) = data_dir_with_user("cli@example.com", false).await;
    let file = dir.join("users.jsonl");
    let lines = [
        json!({ "email": "bcrypt@example.com", "username": "bcryptuser", "password_hash": BCRYPT, "email_verified": true }),
        json!({ "email": "greedy@example.com", "username": "greedyuser", "password_hash": BCRYPT.replace("$05$", "$31$") }),
        json!({ "email": "nohash@example.com", "username": "nohashuser", "created_at": "2021-02-03T04:05:06Z" }),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&file, text).unwrap();

    let out = admin_in(&dir, &["import", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed line fails the command: {stdout}"
    );
    assert!(
        stdout.contains("line 2: invalid_password_hash: bcrypt cost 31"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 imported, 0 skipped (already there), 1 failed"),
        "{stdout}"
    );

    let exported = dir.join("export.jsonl");
    let out = admin_in(&dir, &["export", exported.to_str().unwrap()])
        .output()
        .unwrap();
    assert_succeeded(&out);
    let written = std::fs::read_to_string(&exported).unwrap();
    let users: Vec<serde_json::Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(users.len(), 3, "{written}");
    let bcrypt = users
        .iter()
        .find(|u| u["email"] == "bcrypt@example.com")
        .unwrap();
    assert_eq!(bcrypt["password_hash"], BCRYPT);
    assert_eq!(bcrypt["email_verified"], true);
    let nohash = users
        .iter()
        .find(|u| u["email"] == "nohash@example.com")
        .unwrap();
    assert_eq!(nohash["created_at"], "2021-02-03T04:05:06Z");
    assert!(nohash.get("password_hash").is_none());
    let registered = users
        .iter()
        .find(|u| u["email"] == "cli@example.com")
        .unwrap();
    assert!(registered["password_hash"]
        .as_str()
        .unwrap()
        .starts_with("$argon2id$"));
    // To standard output too.
    let out = admin_in(&dir, &["export"]).output().unwrap();
    assert_succeeded(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), written);

    // Into an empty store, from standard input; again, everyone is skipped.
    let target = temp_dir();
    drop(EmbeddedTable::open(&target.join("buddo.redb"), Arc::new(SystemClock)).unwrap());
    for expected in ["3 imported, 0 skipped", "0 imported, 3 skipped"] {
        let mut child = admin_in(&target, &["import", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(written.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_succeeded(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(expected), "{stdout}");
    }
    let table: SharedTable =
        Arc::new(EmbeddedTable::open(&target.join("buddo.redb"), Arc::new(SystemClock)).unwrap());
    let state = state_over(table.clone());
    let moved = users::find_by_email(table.as_ref(), "bcrypt@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(moved.email_verified);
    assert!(
        matches!(state.passwords.verify("U*U", &moved.password_hash), Verified::YesRehashed(h) if h.starts_with("$argon2id$"))
    );
    assert_eq!(
        state.passwords.verify("U*V", &moved.password_hash),
        Verified::No
    );
    let registered = users::find_by_email(table.as_ref(), "cli@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        state
            .passwords
            .verify("correct horse battery", &registered.password_hash),
        Verified::No
    );
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(target);
}

#[test]
fn admin_import_names_a_missing_file() {
    let dir = temp_dir();
    drop(EmbeddedTable::open(&dir.join("buddo.redb"), Arc::new(SystemClock)).unwrap());
    let out = admin_in(&dir, &["import", "/nonexistent/users.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading /nonexistent/users.jsonl"));
    let _ = std::fs::remove_dir_all(dir);
}
