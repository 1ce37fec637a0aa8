//! Amazon SES (v1 SendEmail). The endpoint comes from the AWS configuration, so tests point
//! it at an emulator with `AWS_ENDPOINT_URL_SES`.

use async_trait::async_trait;
use aws_sdk_ses::types::{Body, Content, Destination, Message};

use super::{Mail, MailSender};

pub struct SesMailer {
    client: aws_sdk_ses::Client,
}

impl SesMailer {
    pub fn new(client: aws_sdk_ses::Client) -> Self {
        SesMailer { client }
    }

    pub async fn from_env(deadlines: &crate::deadlines::Deadlines) -> Self {
        let sdk = crate::aws::sdk_config(deadlines).await;
        SesMailer::new(aws_sdk_ses::Client::new(sdk))
    }
}

fn content(text: &str) -> anyhow::Result<Content> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

#[async_trait]
impl MailSender for SesMailer {
    async fn send(&self, from: &str, mail: &Mail) -> anyhow::Result<String> {
        let message = Message::builder()
            .subject(content(&mail.subject)?)
            .body(Body::builder().text(content(&mail.text)?).build())
            .build();
        let out = self
            .client
            .send_email()
            .source(from)
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .message(message)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "SES SendEmail: {}",
                    aws_sdk_ses::error::DisplayErrorContext(e)
                )
            })?;
        Ok(out.message_id().to_string())
    }
}
