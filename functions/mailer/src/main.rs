use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use buddo_mailer::Mailer;
use buddo_shared::clock::{Clock, SystemClock};
use buddo_shared::config::Features;
use buddo_shared::config::{Config, MailBackend};
use buddo_shared::mail::{LocalMailer, MailSender, SesMailer};
use buddo_shared::store;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() {
    buddo_shared::http::init_tracing(true);
    if let Err(e) = run().await {
        buddo_shared::http::exit_on_start_error(e);
    }
}

async fn run() -> Result<(), Error> {
    let config = Config::from_env()?;
    config.check_features(Features::BUILT, true)?;
    tracing::info!(stage = %config.stage, "starting the mailer");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sender: Arc<dyn MailSender> = match config.mail_backend {
        MailBackend::Ses => Arc::new(SesMailer::from_env(&config.deadlines).await),
        MailBackend::Local => Arc::new(LocalMailer::new(&config.data_dir)),
    };
    let table = store::open(&config.store, &config.deadlines, clock.clone()).await?;
    let mailer = Arc::new(Mailer {
        table: Arc::new(store::Deadline::new(table, config.deadlines.store_call)),
        sender,
        from: config.mail_from.clone(),
        clock,
        send_deadline: config.deadlines.store_call,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let mailer = mailer.clone();
        async move { Ok::<_, Error>(mailer.handle(&event.payload).await) }
    }))
    .await
}
