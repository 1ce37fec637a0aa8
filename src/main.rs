//! `buddo`: run the whole API locally, or administer a deployment's table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use buddo_shared::clock::{Clock, SystemClock};
use buddo_shared::config::{Config, MailBackend};
use buddo_shared::domain::account::deletion;
use buddo_shared::domain::identity::accounts;
use buddo_shared::domain::input::Email;
use buddo_shared::jwt::SigningKeyPair;
use buddo_shared::mail::{self, LocalMailer, MailSender, SesMailer};
use buddo_shared::store::{self, DynamoTable, StoreConfig};
use buddo_shared::AppState;

const HELP: &str = "\
buddo — identity and rewards platform, local server and admin tool

USAGE:
    buddo [serve] [OPTIONS]              serve every endpoint group on 127.0.0.1
    buddo admin promote <EMAIL> [OPTIONS] make the user with EMAIL an admin
    buddo admin enable <EMAIL> [OPTIONS]  enable the account with EMAIL again (the way back
                                          for an admin locked out: admins cannot enable
                                          or disable themselves through the API)
    buddo admin mail retry [OPTIONS]      put mail given up after failed sends back in the
                                          queue and send everything queued ($MAIL_BACKEND)
    buddo admin create-table [OPTIONS]    create the DynamoDB table if it is missing
                                          (with --dynamodb; for DynamoDB Local)
    buddo keygen                          print a new JWT signing key and its JWKS
    buddo openapi                         print the API's OpenAPI document (the one in
                                          docs/openapi.json and at /api/openapi.json)

OPTIONS:
    -p, --port <PORT>        port to listen on (default 3000, or $PORT)
    -d, --data-dir <DIR>     data directory for the embedded store, mail and keys
                             (default ./.buddo, or $BUDDO_DATA_DIR)
        --dynamodb           use the DynamoDB table $TABLE_NAME (default buddo) through
                             the AWS configuration (AWS_ENDPOINT_URL_DYNAMODB for a local
                             emulator); the table is created if it is missing
    -h, --help               print this help

Every other setting is an environment variable: see README.md and .env.example.
";

struct Args {
    command: Vec<String>,
    port: Option<u16>,
    data_dir: Option<PathBuf>,
    dynamodb: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        command: Vec::new(),
        port: None,
        data_dir: None,
        dynamodb: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            "-p" | "--port" => {
                let v = it.next().ok_or("--port needs a value")?;
                args.port = Some(v.parse().map_err(|_| format!("{v:?} is not a port"))?);
            }
            "-d" | "--data-dir" => {
                args.data_dir = Some(it.next().ok_or("--data-dir needs a value")?.into());
            }
            "--dynamodb" => args.dynamodb = true,
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => args.command.push(other.to_string()),
        }
    }
    Ok(args)
}

fn config(args: &Args) -> anyhow::Result<Config> {
    let mut config = Config::from_env()?;
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
        if let StoreConfig::Embedded(_) = config.store {
            config.store = StoreConfig::Embedded(dir.join("buddo.redb"));
        }
    }
    if args.dynamodb {
        let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "buddo".into());
        config.store = StoreConfig::Dynamo { table };
    }
    Ok(config)
}

async fn state(config: Config) -> anyhow::Result<AppState> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table = store::open(&config.store, &config.deadlines, clock.clone()).await?;
    if let StoreConfig::Dynamo { table: name } = &config.store {
        let sdk = buddo_shared::aws::sdk_config(&config.deadlines).await;
        DynamoTable::new(
            aws_sdk_dynamodb::Client::new(sdk),
            name.clone(),
            clock.clone(),
        )
        .ensure_table()
        .await?;
    }
    AppState::build(config, table, clock).await
}

async fn serve(args: &Args) -> anyhow::Result<()> {
    buddo_shared::http::init_tracing(false);
    let config = config(args)?;
    let port = args
        .port
        .or_else(|| std::env::var("PORT").ok().and_then(|p| p.parse().ok()))
        .unwrap_or(3000);
    let state = state(config.clone()).await?;
    spawn_mail_dispatcher(&state, &config).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    buddo_shared::http::serve(buddo::app(state), addr).await?;
    Ok(())
}

/// Locally there is no stream: a task delivers queued mail every second.
async fn spawn_mail_dispatcher(state: &AppState, config: &Config) {
    let sender = mail_sender(config).await;
    let state = state.clone();
    let from = config.mail_from.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Err(e) = mail::deliver_pending(
                state.table.as_ref(),
                sender.as_ref(),
                &from,
                state.now(),
                state.config.deadlines.store_call,
            )
            .await
            {
                tracing::warn!(error = %e, "mail dispatcher");
            }
        }
    });
}

async fn mail_sender(config: &Config) -> Arc<dyn MailSender> {
    match config.mail_backend {
        MailBackend::Local => Arc::new(LocalMailer::new(&config.data_dir)),
        MailBackend::Ses => Arc::new(SesMailer::from_env(&config.deadlines).await),
    }
}

async fn admin(args: &Args) -> anyhow::Result<()> {
    match args.command.get(1..).unwrap_or_default() {
        [cmd] if cmd == "create-table" => {
            if !args.dynamodb {
                anyhow::bail!("create-table is for DynamoDB: add --dynamodb");
            }
            state(config(args)?).await?;
            println!("the DynamoDB table is ready");
            Ok(())
        }
        [mail, retry] if mail == "mail" && retry == "retry" => {
            let config = config(args)?;
            let state = state(config.clone()).await?;
            let table = state.table.as_ref();
            let requeued = mail::requeue_failed(table).await?;
            let sender = mail_sender(&config).await;
            let mut sent = 0;
            loop {
                let batch =
                    mail::deliver_pending(
                        table,
                        sender.as_ref(),
                        &config.mail_from,
                        state.now(),
                        config.deadlines.store_call,
                    )
                    .await?;
                if batch == 0 {
                    break;
                }
                sent += batch;
            }
            let left = mail::pending(table).await?.len();
            println!("{requeued} failed message(s) requeued, {sent} sent, {left} still queued");
            if left > 0 {
                anyhow::bail!("{left} message(s) could not be sent; see the log above");
            }
            Ok(())
        }
        [cmd, email] if cmd == "promote" => {
            let email = Email::parse("email", email)
                .map_err(|_| anyhow::anyhow!("{email:?} is not an email address"))?;
            let state = state(config(args)?).await?;
            let user = accounts::promote_admin(&state, &email)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{} ({}) is now an admin", user.email, user.id);
            Ok(())
        }
        [cmd, email] if cmd == "enable" => {
            let email = Email::parse("email", email)
                .map_err(|_| anyhow::anyhow!("{email:?} is not an email address"))?;
            let state = state(config(args)?).await?;
            let user = deletion::enable_by_operator(&state, &email)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{} ({}) is enabled", user.email, user.id);
            Ok(())
        }
        _ => anyhow::bail!(
            "usage: buddo admin promote <EMAIL> | enable <EMAIL> | mail retry | create-table [--dynamodb] [--data-dir DIR]"
        ),
    }
}

fn keygen() {
    let pair = SigningKeyPair::generate();
    let jwks = serde_json::json!({ "keys": [{
        "kty": "OKP", "crv": "Ed25519", "x": pair.public_x(), "kid": pair.kid, "use": "sig", "alg": "EdDSA"
    }]});
    println!("# Secret value (JWT_SIGNING_KEY, or the Secrets Manager secret string):");
    println!("{}", pair.to_secret_text());
    println!("# Public keys (JWT_PUBLIC_KEYS):");
    println!("{jwks}");
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}\n\n{HELP}");
            std::process::exit(2);
        }
    };
    let result = match args.command.first().map(String::as_str) {
        None | Some("serve") => serve(&args).await,
        Some("admin") => admin(&args).await,
        Some("keygen") => {
            keygen();
            Ok(())
        }
        Some("openapi") => {
            print!("{}", buddo::openapi_json());
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command {other:?}; see --help")),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
