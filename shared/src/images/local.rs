//! The local image store: files under `<data dir>/images`, uploaded with the same kind of
//! form as S3's presigned POST, to the local server itself (`POST /local/uploads`), and
//! published at `GET /local/images/{key}`. Its policies are signed with a key of the process
//! (HMAC-SHA256), and the upload route enforces them as S3 does: the key, the content type,
//! the size range, the expiry.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};

use async_trait::async_trait;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{ImageStore, PostPolicy, PresignedPost};
use crate::error::ApiError;
use crate::http::Routes;
use crate::state::AppState;

/// Keys under these prefixes are published; uploads are not readable.
const PUBLISHED_PREFIXES: [&str; 2] = ["avatars/", "banners/"];

/// Room for the form's other fields and the multipart framing around the largest file.
const FORM_OVERHEAD: usize = 64 * 1024;

/// The largest file any policy allows (the upload route's body limit).
const MAX_FILE: usize = 5 * 1024 * 1024;

/// The policy as the form carries it (base64url of this JSON).
#[derive(Serialize, Deserialize)]
struct LocalPolicy {
    key: String,
    content_type: String,
    max_bytes: u64,
    /// Unix seconds.
    expires: i64,
}

pub struct LocalImages {
    root: PathBuf,
    upload_url: String,
    /// Signs the forms this process hands out; a restart voids the pending ones, as their
    /// ten minutes would.
    secret: [u8; 32],
}

impl LocalImages {
    pub fn new(root: PathBuf, upload_url: String) -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        LocalImages {
            root,
            upload_url,
            secret,
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length")
    }

    /// The file of a key: plain path segments only, so no key reaches outside the root.
    fn path(&self, key: &str) -> anyhow::Result<PathBuf> {
        let valid = !key.is_empty()
            && key.split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            });
        anyhow::ensure!(valid, "not an image key: {key:?}");
        Ok(self.root.join(key))
    }

    /// The policy of a posted form, if this process signed it and it has not expired.
    fn verify(&self, fields: &BTreeMap<String, String>, now: i64) -> Result<LocalPolicy, ApiError> {
        let denied = |why: &'static str| ApiError::forbidden("policy_violation", why);
        let (Some(encoded), Some(signature)) = (fields.get("policy"), fields.get("signature"))
        else {
            return Err(denied("The form lacks its policy or signature"));
        };
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| denied("The form's signature does not match its policy"))?;
        let mut mac = self.mac();
        mac.update(encoded.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| denied("The form's signature does not match its policy"))?;
        let policy: LocalPolicy = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(|| denied("The form's policy is unreadable"))?;
        if policy.expires <= now {
            return Err(denied("The upload form has expired"));
        }
        if fields.get("key") != Some(&policy.key) {
            return Err(denied("The key is not the one the policy allows"));
        }
        // Field names are case-insensitive (they are stored lower-cased), as S3's are.
        if fields.get("content-type") != Some(&policy.content_type) {
            return Err(denied("The content type is not the one the policy allows"));
        }
        Ok(policy)
    }

    async fn write(&self, key: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        // Readers never see half a file: written aside, then renamed into place.
        let partial = path.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&partial, bytes).await?;
        tokio::fs::rename(&partial, &path).await?;
        Ok(())
    }
}

fn missing_is_none<T>(result: std::io::Result<T>) -> anyhow::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[async_trait]
impl ImageStore for LocalImages {
    async fn presign_post(&self, policy: &PostPolicy<'_>) -> anyhow::Result<PresignedPost> {
        let document = LocalPolicy {
            key: policy.key.into(),
            content_type: policy.content_type.into(),
            max_bytes: policy.max_bytes,
            expires: policy.expires_at.unix_timestamp(),
        };
        let encoded =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&document)?);
        let mut mac = self.mac();
        mac.update(encoded.as_bytes());
        let signature =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Ok(PresignedPost {
            url: self.upload_url.clone(),
            fields: BTreeMap::from([
                ("key".into(), policy.key.into()),
                ("Content-Type".into(), policy.content_type.into()),
                ("policy".into(), encoded),
                ("signature".into(), signature),
            ]),
        })
    }

    async fn head(&self, key: &str) -> anyhow::Result<Option<u64>> {
        let metadata = missing_is_none(tokio::fs::metadata(self.path(key)?).await)?;
        Ok(metadata.map(|m| m.len()))
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        missing_is_none(tokio::fs::read(self.path(key)?).await)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> anyhow::Result<()> {
        // The content type is the key's extension's when served ([`content_type_of`]).
        self.write(key, &bytes).await
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        missing_is_none(tokio::fs::remove_file(self.path(key)?).await)?;
        Ok(())
    }
}

/// The routes of the local store, added to `routes` when it is the store in use.
pub fn mount(routes: Routes, state: &AppState) -> Routes {
    if state.images.local.is_none() {
        return routes;
    }
    routes
        .route(
            http::Method::POST,
            "/local/uploads",
            routing::post(upload).layer(DefaultBodyLimit::max(MAX_FILE + FORM_OVERHEAD)),
        )
        .get("/local/images/{*key}", download)
}

fn local(state: &AppState) -> Result<&LocalImages, ApiError> {
    state
        .images
        .local
        .as_deref()
        .ok_or_else(|| ApiError::not_found("not_found", "No such endpoint"))
}

fn bad_form(e: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::bad_request("malformed_form", format!("The form is unreadable: {e}"))
}

/// A browser's upload: the form's fields, then the file (fields after it are ignored, as
/// S3 does).
async fn upload(
    State(state): State<AppState>,
    mut form: Multipart,
) -> Result<StatusCode, ApiError> {
    let images = local(&state)?;
    let mut fields = BTreeMap::new();
    while let Some(mut field) = form.next_field().await.map_err(bad_form)? {
        let name = field.name().unwrap_or_default().to_ascii_lowercase();
        if name != "file" {
            if fields.len() >= 20 {
                return Err(ApiError::bad_request(
                    "malformed_form",
                    "Too many form fields",
                ));
            }
            let value = field.text().await.map_err(bad_form)?;
            fields.insert(name, value);
            continue;
        }
        // The policy is checked before a byte of the file is kept.
        let policy = images.verify(&fields, state.now_unix())?;
        let mut bytes = Vec::new();
        let mut too_large = false;
        while let Some(chunk) = field.chunk().await.map_err(bad_form)? {
            // Past the limit the rest is read and dropped (the body limit bounds it): a
            // client still sending when the answer comes would see a reset, not the answer.
            if too_large {
                continue;
            }
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > policy.max_bytes {
                too_large = true;
                bytes = Vec::new();
            }
        }
        if too_large {
            return Err(ApiError::bad_request(
                "entity_too_large",
                "The file is larger than the policy allows",
            ));
        }
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "entity_too_small",
                "The file is empty",
            ));
        }
        images.write(&policy.key, &bytes).await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    Err(ApiError::bad_request(
        "malformed_form",
        "The form has no file field",
    ))
}

fn content_type_of(key: &str) -> &'static str {
    match FsPath::new(key).extension().and_then(|e| e.to_str()) {
        Some("png") => "image/png",
        Some("jpg") => "image/jpeg",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}

/// A published image, as the CDN serves them on AWS.
async fn download(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let images = local(&state)?;
    let gone = || ApiError::not_found("image_not_found", "No such image");
    if !PUBLISHED_PREFIXES.iter().any(|p| key.starts_with(p)) {
        return Err(gone());
    }
    let bytes = images
        .get(&key)
        .await
        .map_err(|_| gone())?
        .ok_or_else(gone)?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type_of(&key)),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_under_the_root() {
        let store = LocalImages::new("/data/images".into(), "http://x/local/uploads".into());
        assert!(store.path("avatars/u/a.png").is_ok());
        for bad in [
            "",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "a\\b",
            "é",
        ] {
            assert!(store.path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_form_is_held_to_its_policy() {
        let store = LocalImages::new("/tmp".into(), "http://x/local/uploads".into());
        let now = time::OffsetDateTime::now_utc();
        let form = futures::executor::block_on(store.presign_post(&PostPolicy {
            key: "uploads/u/1",
            content_type: "image/png",
            max_bytes: 10,
            now,
            expires_at: now + time::Duration::minutes(10),
        }))
        .unwrap();
        let posted = |changes: &[(&str, &str)]| {
            let mut fields: BTreeMap<String, String> = form
                .fields
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            for (k, v) in changes {
                fields.insert(k.to_string(), v.to_string());
            }
            store.verify(&fields, now.unix_timestamp())
        };
        assert_eq!(posted(&[]).unwrap().max_bytes, 10);
        assert!(posted(&[("key", "uploads/u/2")]).is_err());
        assert!(posted(&[("content-type", "image/jpeg")]).is_err());
        assert!(posted(&[("signature", "AAAA")]).is_err());
        let later = now.unix_timestamp() + 601;
        let fields = form
            .fields
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        assert!(store.verify(&fields, later).is_err());
    }
}
