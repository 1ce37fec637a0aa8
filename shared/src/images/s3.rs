//! The S3 image store. Uploads are browser POSTs signed here (the SDK presigns URLs but not
//! POST forms): the policy document of "Browser-Based Uploads Using POST", signed with
//! SigV4's key derivation from `aws-sigv4` and the credentials of the SDK's provider chain.

use std::collections::BTreeMap;
use std::time::SystemTime;

use anyhow::Context;
use async_trait::async_trait;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use base64::Engine;
use serde_json::{json, Value};
use time::macros::format_description;
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use super::{ImageStore, PostPolicy, PresignedPost};
use crate::config::Deadlines;

/// Published images never change under their key (each upload gets a new one): caches may
/// keep them for good.
const PUBLISHED_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

pub struct S3Images {
    bucket: String,
    endpoint: Option<String>,
    deadlines: Deadlines,
    /// Built at first use: functions that never touch images never load it.
    client: OnceCell<(Client, aws_config::SdkConfig)>,
}

impl S3Images {
    pub fn new(bucket: String, endpoint: Option<String>, deadlines: Deadlines) -> Self {
        S3Images {
            bucket,
            endpoint,
            deadlines,
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> &(Client, aws_config::SdkConfig) {
        self.client
            .get_or_init(|| async {
                let sdk = crate::aws::sdk_config(&self.deadlines).await;
                let mut config = aws_sdk_s3::config::Builder::from(sdk);
                if let Some(endpoint) = &self.endpoint {
                    // S3-compatible services have no per-bucket host names, and not all of
                    // them speak the newer default checksums.
                    config = config
                        .endpoint_url(endpoint)
                        .force_path_style(true)
                        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
                }
                (Client::from_conf(config.build()), sdk.clone())
            })
            .await
    }

    fn form_url(&self, region: &str) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), self.bucket),
            None => format!("https://{}.s3.{region}.amazonaws.com", self.bucket),
        }
    }
}

/// `20240102T030405Z`, the SigV4 timestamp.
fn amz_date(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .expect("the format is valid")
}

/// `2024-01-02T03:04:05.000Z`, a policy's expiration.
fn iso8601(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].000Z"
        ))
        .expect("the format is valid")
}

/// The form's fields besides `policy` and `x-amz-signature`, and the policy document that
/// pins each of them.
fn policy_document(
    bucket: &str,
    policy: &PostPolicy<'_>,
    credential: &str,
    date: &str,
    session_token: Option<&str>,
) -> (BTreeMap<String, String>, Value) {
    let mut fields = BTreeMap::from([
        ("key".to_string(), policy.key.to_string()),
        ("Content-Type".to_string(), policy.content_type.to_string()),
        (
            "x-amz-algorithm".to_string(),
            "AWS4-HMAC-SHA256".to_string(),
        ),
        ("x-amz-credential".to_string(), credential.to_string()),
        ("x-amz-date".to_string(), date.to_string()),
    ]);
    let mut conditions = vec![
        json!({ "bucket": bucket }),
        json!(["eq", "$key", policy.key]),
        json!(["eq", "$Content-Type", policy.content_type]),
        json!(["content-length-range", 1, policy.max_bytes]),
        json!({ "x-amz-algorithm": "AWS4-HMAC-SHA256" }),
        json!({ "x-amz-credential": credential }),
        json!({ "x-amz-date": date }),
    ];
    if let Some(token) = session_token {
        fields.insert("x-amz-security-token".into(), token.into());
        conditions.push(json!({ "x-amz-security-token": token }));
    }
    let document = json!({
        "expiration": iso8601(policy.expires_at),
        "conditions": conditions,
    });
    (fields, document)
}

/// The POST form's `x-amz-signature`: the base64 policy signed with the day's SigV4 key.
fn sign_policy(secret: &str, now: OffsetDateTime, region: &str, encoded_policy: &str) -> String {
    let key = generate_signing_key(secret, SystemTime::from(now), region, "s3");
    calculate_signature(key, encoded_policy.as_bytes())
}

fn sdk_error<E: std::error::Error + Send + Sync + 'static>(
    what: &str,
) -> impl FnOnce(
    aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> anyhow::Error
       + '_ {
    move |e| anyhow::anyhow!("S3 {what}: {}", DisplayErrorContext(e))
}

#[async_trait]
impl ImageStore for S3Images {
    async fn presign_post(&self, policy: &PostPolicy<'_>) -> anyhow::Result<PresignedPost> {
        let (_, sdk) = self.client().await;
        let region = sdk
            .region()
            .context("no AWS region configured (AWS_REGION)")?
            .to_string();
        let credentials = sdk
            .credentials_provider()
            .context("no AWS credentials provider")?
            .provide_credentials()
            .await
            .context("AWS credentials")?;
        let date = amz_date(policy.now);
        let credential = format!(
            "{}/{}/{region}/s3/aws4_request",
            credentials.access_key_id(),
            &date[..8]
        );
        let (mut fields, document) = policy_document(
            &self.bucket,
            policy,
            &credential,
            &date,
            credentials.session_token(),
        );
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(document.to_string().as_bytes());
        let signature = sign_policy(
            credentials.secret_access_key(),
            policy.now,
            &region,
            &encoded,
        );
        fields.insert("policy".into(), encoded);
        fields.insert("x-amz-signature".into(), signature);
        Ok(PresignedPost {
            url: self.form_url(&region),
            fields,
        })
    }

    async fn head(&self, key: &str) -> anyhow::Result<Option<u64>> {
        let (client, _) = self.client().await;
        match client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => Ok(Some(object.content_length().unwrap_or(0).max(0) as u64)),
            // S3 answers a missing key 404 to a caller that may list the bucket (the template
            // grants the user function s3:ListBucket for that); a 403 is a real error.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(e) => Err(sdk_error("HeadObject")(e)),
        }
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let (client, _) = self.client().await;
        let object = match client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(sdk_error("GetObject")(e)),
        };
        let bytes = object.body.collect().await.context("S3 GetObject body")?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> anyhow::Result<()> {
        let (client, _) = self.client().await;
        client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .cache_control(PUBLISHED_CACHE_CONTROL)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(sdk_error("PutObject"))?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let (client, _) = self.client().await;
        client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(sdk_error("DeleteObject"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_signature_is_sigv4s() {
        // A published example's policy and fictitious credentials (AWS's example keys).
        let policy = "eyJleHBpcmF0aW9uIjoiMjAxMy0wOC0wNlQxMjowMDowMC4wMDBaIiwiY29uZGl0aW9ucyI6W3siYWNsIjoicHVibGljLXJlYWQifSxbInN0YXJ0cy13aXRoIiwiJENvbnRlbnQtVHlwZSIsImltYWdlLyJdLFsic3RhcnRzLXdpdGgiLCIka2V5IiwidXNlci91c2VyMS8iXSxbInN0YXJ0cy13aXRoIiwiJHgtYW16LW1ldGEtdGFnIiwiIl0seyJ4LWFtei1tZXRhLXV1aWQiOiIxNDM2NTEyMzY1MTI3NCJ9LHsiYnVja2V0IjoiZXhhbXBsZWJ1Y2tldCJ9LHsieC1hbXotYWxnb3JpdGhtIjoiQVdTNC1ITUFDLVNIQTI1NiJ9LHsieC1hbXotY3JlZGVudGlhbCI6IkFLSUFJT1NGT0ROTjdFWEFNUExFLzIwMTMwODA2L3VzLWVhc3QtMS9zMy9hd3M0X3JlcXVlc3QifSx7IngtYW16LWRhdGUiOiIyMDEzMDgwNlQxMjAwMDBaIn1dfQ==";
        let signature = sign_policy(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            datetime!(2013-08-06 12:00:00 UTC),
            "us-east-1",
            policy,
        );
        assert_eq!(
            signature,
            "5bc8a7be4a6fc6445b94d0f4096f8cf3dfa00303529f8a68ea7dc0c23bb83cd9"
        );
    }

    #[test]
    fn the_policy_pins_every_field_of_the_form() {
        let now = datetime!(2024-01-02 03:04:05 UTC);
        let policy = PostPolicy {
            key: "uploads/u/1",
            content_type: "image/png",
            max_bytes: 5 * 1024 * 1024,
            now,
            expires_at: now + time::Duration::minutes(10),
        };
        let credential = "AKID/20240102/eu-west-1/s3/aws4_request";
        let (fields, document) =
            policy_document("b", &policy, credential, &amz_date(now), Some("token"));
        assert_eq!(amz_date(now), "20240102T030405Z");
        assert_eq!(document["expiration"], "2024-01-02T03:14:05.000Z");
        let conditions = document["conditions"].as_array().unwrap();
        assert!(conditions.contains(&json!(["content-length-range", 1, 5242880])));
        assert!(conditions.contains(&json!(["eq", "$Content-Type", "image/png"])));
        assert!(conditions.contains(&json!({ "bucket": "b" })));
        // Every field the browser sends is named by a condition (S3 refuses others).
        for name in fields.keys() {
            let named = conditions
                .iter()
                .any(|c| c.get(name).is_some() || c[1].as_str() == Some(&format!("${name}")));
            assert!(named, "{name} is not in the policy");
        }
    }
}
