//! `buddo`: run the whole API locally, or administer a deployment's table.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use buddo_shared::clock::{Clock, ManualClock, SystemClock};
use buddo_shared::config::{Config, MailBackend};
use buddo_shared::domain::account::deletion;
use buddo_shared::domain::identity::{accounts, transfer};
use buddo_shared::domain::input::Email;
use buddo_shared::domain::webhooks;
use buddo_shared::id_token::IdTokenKeys;
use buddo_shared::jwt::SigningKeyPair;
use buddo_shared::mail::{self, LocalMailer, MailSender, SesMailer};
use buddo_shared::store::{self, DynamoTable, StoreConfig};
use buddo_shared::AppState;
use clap::{Args, Parser, Subcommand};

/// buddo — identity and rewards platform, local server and admin tool
#[derive(Parser)]
#[command(
    name = "buddo",
    version,
    after_help = "Every other setting is an environment variable: see README.md and .env.example."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

/// What every command accepts, before or after its name.
#[derive(Args)]
struct Options {
    /// Port to listen on
    #[arg(short, long, env = "PORT", default_value_t = 3000, global = true)]
    port: u16,
    /// Data directory for the embedded store, mail and keys [default: ./.buddo]
    #[arg(short, long, value_name = "DIR", env = "BUDDO_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Use the DynamoDB table $TABLE_NAME (default buddo) through the AWS configuration
    /// (AWS_ENDPOINT_URL_DYNAMODB for a local emulator); the table is created if it is missing
    #[arg(long, global = true)]
    dynamodb: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every endpoint group on 127.0.0.1 (what `buddo` alone does)
    Serve,
    /// Administer the store: admin promote <EMAIL>, admin enable <EMAIL>, admin mail retry,
    /// admin create-table, admin renew [--at TIME], admin import <FILE>, admin export [FILE]
    #[command(subcommand)]
    Admin(Admin),
    /// Print a new JWT signing key and its JWKS (with --id-token: new ID-token keys)
    Keygen {
        /// Print new ID-token signing keys instead (RSA for RS256 and Ed25519 for EdDSA): the
        /// value of ID_TOKEN_KEYS or of its Secrets Manager secret
        #[arg(long)]
        id_token: bool,
        /// A rotation: the public keys now in use, as a JWKS (`{"keys": [...]}`, what the last
        /// keygen printed, or JWT_PUBLIC_KEYS). They are kept beside the new key: in the JWKS
        /// printed for JWT_PUBLIC_KEYS, or with --id-token in the secret's `previous` list
        #[arg(long, value_name = "JWKS")]
        previous: Option<String>,
    },
    /// Print the API's OpenAPI document (the one in docs/openapi.json and at /api/openapi.json)
    Openapi,
}

#[derive(Subcommand)]
enum Admin {
    /// Make the user with EMAIL an admin
    Promote {
        #[arg(value_parser = email)]
        email: Email,
    },
    /// Enable the account with EMAIL again (the way back for an admin locked out: admins
    /// cannot enable or disable themselves through the API)
    Enable {
        #[arg(value_parser = email)]
        email: Email,
    },
    /// Mail given up after failed sends
    #[command(subcommand)]
    Mail(MailCommand),
    /// Create the DynamoDB table if it is missing (with --dynamodb; for DynamoDB Local)
    CreateTable,
    /// Renew the subscriptions that are due (what the billing function does on its schedule)
    Renew {
        /// Renew as if it were this time (RFC 3339, e.g. 2030-01-01T00:00:00Z): to watch the
        /// renewals of a later day happen now
        #[arg(long, value_name = "TIME", value_parser = rfc3339_time)]
        at: Option<time::OffsetDateTime>,
    },
    /// Import users with their password hashes from JSON lines (README, "Moving users in"):
    /// each user all or nothing, users already there skipped; prints a report and fails if
    /// any line failed
    Import {
        /// The file, or - for standard input
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Export every user in the import's format (JSON lines, password hashes as stored)
    Export {
        /// Where to write [default: standard output]
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

fn rfc3339_time(text: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| "must be an RFC 3339 time such as 2030-01-01T00:00:00Z".into())
}

#[derive(Subcommand)]
enum MailCommand {
    /// Put mail given up after failed sends back in the queue and send everything queued
    /// ($MAIL_BACKEND)
    Retry,
}

fn email(text: &str) -> Result<Email, String> {
    Email::parse("email", text).map_err(|_| format!("{text:?} is not an email address"))
}

fn config(options: &Options) -> anyhow::Result<Config> {
    let mut config = Config::from_env()?;
    if let Some(dir) = &options.data_dir {
        config.data_dir = dir.clone();
        if let StoreConfig::Embedded(_) = config.store {
            config.store = StoreConfig::Embedded(dir.join("buddo.redb"));
        }
    }
    if options.dynamodb {
        let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "buddo".into());
        config.store = StoreConfig::Dynamo { table };
    }
    // Unless configured, the server names itself by the address it listens on: the OAuth
    // issuer and its endpoint URLs, and the links in mail (the pages they open are served
    // here too).
    let local = format!("http://localhost:{}", options.port);
    if !is_set("PUBLIC_API_URL") {
        config.oauth.issuer = local.clone();
    }
    if !is_set("PUBLIC_WEB_URL") {
        config.public_web_url = local;
    }
    Ok(config)
}

/// Whether the variable has a value, as `Config` reads it (blank is unset).
fn is_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// The store, its DynamoDB table created if it is missing.
async fn table(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<store::SharedTable> {
    let table = store::open(&config.store, &config.deadlines, clock.clone()).await?;
    if let StoreConfig::Dynamo { table: name } = &config.store {
        let sdk = buddo_shared::aws::sdk_config(&config.deadlines).await;
        DynamoTable::new(aws_sdk_dynamodb::Client::new(sdk), name.clone(), clock)
            .ensure_table()
            .await?;
    }
    Ok(table)
}

async fn state(config: Config) -> anyhow::Result<AppState> {
    state_at(config, Arc::new(SystemClock)).await
}

async fn state_at(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let table = table(&config, clock.clone()).await?;
    AppState::build(config, table, clock).await
}

/// The state over a store that already exists: opening a missing embedded store would create
/// an empty one, and an admin command would then answer as if the user did not exist.
async fn existing_state(config: Config) -> anyhow::Result<AppState> {
    existing_state_at(config, Arc::new(SystemClock)).await
}

async fn existing_state_at(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    if let StoreConfig::Embedded(path) = &config.store {
        if !path.exists() {
            let dir = config.data_dir.display();
            if config.data_dir.is_dir() {
                anyhow::bail!(
                    "the data directory {dir} holds no store ({} is missing): name the server's with -d/--data-dir or BUDDO_DATA_DIR, or use --dynamodb",
                    file_name(path)
                );
            }
            anyhow::bail!(
                "the data directory {dir} does not exist: name the server's with -d/--data-dir or BUDDO_DATA_DIR, or use --dynamodb"
            );
        }
    }
    state_at(config, clock).await
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

async fn serve(options: &Options) -> anyhow::Result<()> {
    buddo_shared::http::init_tracing(false);
    let config = config(options)?;
    let state = state(config.clone()).await?;
    spawn_mail_dispatcher(&state, &config).await;
    spawn_renewals(&state);
    spawn_webhooks(&state)?;
    let port = options.port;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match buddo_shared::http::serve(buddo::app(state), addr).await {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "port {port} is in use (another buddo, or another server): choose another with -p/--port or PORT"
        ),
        result => Ok(result?),
    }
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

/// Locally there is no stream or schedule: a task fans out and delivers what is due on the
/// webhooks' due index every second.
fn spawn_webhooks(state: &AppState) -> anyhow::Result<()> {
    let state = state.clone();
    let sender = webhooks::delivery::Sender::new(&state.config)?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Err(e) =
                webhooks::delivery::run_due(state.table.as_ref(), &sender, state.now()).await
            {
                tracing::warn!(error = %e, "webhooks");
            }
        }
    });
    Ok(())
}

/// Locally there is no schedule: a task renews what is due every RENEWAL_INTERVAL_SECONDS.
fn spawn_renewals(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let every = state.config.renewal_interval.max(Duration::from_secs(1));
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = buddo_billing::handle(&state).await {
                tracing::warn!(error = %e, "renewals");
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

async fn admin(command: Admin, options: &Options) -> anyhow::Result<()> {
    let config = config(options)?;
    match command {
        Admin::CreateTable => {
            if !options.dynamodb {
                anyhow::bail!("create-table is for DynamoDB: add --dynamodb");
            }
            // The table alone: no signing key or anything else is written locally.
            table(&config, Arc::new(SystemClock)).await?;
            println!("the DynamoDB table is ready");
        }
        Admin::Renew { at } => {
            let clock: Arc<dyn Clock> = match at {
                Some(at) => Arc::new(ManualClock::frozen_at(at)),
                None => Arc::new(SystemClock),
            };
            let state = existing_state_at(config, clock).await?;
            let report = buddo_billing::handle(&state)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{} period(s) renewed, {} subscription(s) past due, {} ended, {} failed",
                report.renewed, report.past_due, report.canceled, report.failed
            );
        }
        Admin::Import { file } => import(existing_state(config).await?, &file).await?,
        Admin::Export { file } => export(existing_state(config).await?, file.as_deref()).await?,
        Admin::Mail(MailCommand::Retry) => mail_retry(existing_state(config).await?).await?,
        Admin::Promote { email } => {
            let state = existing_state(config).await?;
            let user = accounts::promote_admin(&state, &email)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{} ({}) is now an admin", user.email, user.id);
        }
        Admin::Enable { email } => {
            let state = existing_state(config).await?;
            let user = deletion::enable_by_operator(&state, &email)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{} ({}) is enabled", user.email, user.id);
        }
    }
    Ok(())
}

async fn import(state: AppState, file: &Path) -> anyhow::Result<()> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| anyhow::anyhow!("reading standard input: {e}"))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?
    };
    let report = transfer::import(&state, transfer::parse_lines(&text)).await;
    for failure in &report.failures {
        println!(
            "line {}: {}: {}",
            failure.line, failure.code, failure.reason
        );
    }
    println!(
        "{} imported, {} skipped (already there), {} failed",
        report.imported, report.skipped, report.failed
    );
    if report.failed > 0 {
        anyhow::bail!("{} line(s) failed; see above", report.failed);
    }
    Ok(())
}

async fn export(state: AppState, file: Option<&Path>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out: Box<dyn Write> = match file {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut cursor = None;
    let mut count = 0;
    loop {
        let page = transfer::export_page(&state, 100, cursor)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for user in &page.users {
            serde_json::to_writer(&mut out, user)?;
            out.write_all(b"\n")?;
        }
        count += page.users.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    out.flush()?;
    eprintln!("{count} user(s) exported");
    Ok(())
}

async fn mail_retry(state: AppState) -> anyhow::Result<()> {
    let config = &state.config;
    let table = state.table.as_ref();
    let requeued = mail::requeue_failed(table).await?;
    let sender = mail_sender(config).await;
    let mut sent = 0;
    loop {
        let batch = mail::deliver_pending(
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

/// The keys of a JWKS (`--previous`).
fn previous_keys(jwks: Option<&str>) -> anyhow::Result<Vec<serde_json::Value>> {
    let Some(text) = jwks else {
        return Ok(Vec::new());
    };
    let parsed: serde_json::Value =
        serde_json::from_str(text).map_err(|e| anyhow::anyhow!("--previous is not JSON: {e}"))?;
    let keys = parsed["keys"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("--previous must be a JWKS: {{\"keys\": [...]}}"))?;
    Ok(keys.clone())
}

fn keygen(id_token: bool, previous: Option<&str>) -> anyhow::Result<()> {
    let previous = previous_keys(previous)?;
    if id_token {
        let fresh = IdTokenKeys::generate();
        let mut text: serde_json::Value =
            serde_json::from_str(fresh.to_secret_text().expect("generated keys"))?;
        if !previous.is_empty() {
            text["previous"] = serde_json::Value::Array(previous);
        }
        // Read back: a previous key that is not a public RSA or Ed25519 JWK is refused here.
        let keys = IdTokenKeys::parse(&text.to_string())?;
        println!("# Secret value (ID_TOKEN_KEYS, or the Secrets Manager secret string):");
        println!("{}", keys.to_secret_text().expect("parsed keys"));
        println!("# Public keys (published in /.well-known/jwks.json):");
        println!("{}", serde_json::json!({ "keys": keys.jwks_keys() }));
        return Ok(());
    }
    let pair = SigningKeyPair::generate();
    let new_key = serde_json::json!({
        "kty": "OKP", "crv": "Ed25519", "x": pair.public_x(), "kid": pair.kid, "use": "sig", "alg": "EdDSA"
    });
    let mut keys = vec![new_key.clone()];
    keys.extend(previous.iter().cloned());
    let jwks = serde_json::json!({ "keys": keys });
    // Read back: what a function would refuse at start is refused here.
    buddo_shared::jwt::JwtKeys::new(
        &buddo_shared::config::JwtConfig {
            issuer: String::new(),
            audience: String::new(),
            access_ttl: Duration::from_secs(1),
            signing_key: buddo_shared::config::SigningKeySource::None,
            public_keys: None,
        },
        None,
        Some(&jwks.to_string()),
    )
    .map_err(|e| anyhow::anyhow!("--previous: {e}"))?;
    println!("# Secret value (JWT_SIGNING_KEY, or the Secrets Manager secret string):");
    println!("{}", pair.to_secret_text());
    if previous.is_empty() {
        println!("# Public keys (JWT_PUBLIC_KEYS):");
        println!("{jwks}");
    } else {
        println!("# Public keys during the rotation, the new key and the previous ones (JWT_PUBLIC_KEYS):");
        println!("{jwks}");
        println!("# Public keys once the previous ones are retired (JWT_PUBLIC_KEYS):");
        println!("{}", serde_json::json!({ "keys": [new_key] }));
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.options).await,
        Command::Admin(command) => admin(command, &cli.options).await,
        Command::Keygen { id_token, previous } => keygen(id_token, previous.as_deref()),
        Command::Openapi => {
            print!("{}", buddo::openapi_json());
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
