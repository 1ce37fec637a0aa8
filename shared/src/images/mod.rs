//! Where profile images are kept (docs/architecture.md, "Profile images"): a port,
//! [`ImageStore`], with two adapters, S3 (`IMAGES_BUCKET`) and files under the data directory
//! served by the local server itself. Browsers upload straight to the store with a presigned
//! POST form; the API only reads back what was uploaded, checks it and publishes it.

#[cfg(feature = "server")]
pub mod local;
mod s3;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::config::{Config, ImageStoreConfig};
use crate::http::Routes;
use crate::state::AppState;

pub use s3::S3Images;

/// What an upload form lets a browser post: exactly this key, this content type, a size in
/// `1..=max_bytes`, until `expires_at`.
#[derive(Clone, Debug)]
pub struct PostPolicy<'a> {
    pub key: &'a str,
    pub content_type: &'a str,
    pub max_bytes: u64,
    pub now: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// An HTML form's target and hidden fields; the file goes last, as the field `file`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresignedPost {
    pub url: String,
    pub fields: BTreeMap<String, String>,
}

#[async_trait]
pub trait ImageStore: Send + Sync {
    /// A form that uploads one object under the policy's rules, enforced by the store.
    async fn presign_post(&self, policy: &PostPolicy<'_>) -> anyhow::Result<PresignedPost>;
    /// The object's size in bytes; `None` when there is no such object.
    async fn head(&self, key: &str) -> anyhow::Result<Option<u64>>;
    /// The object's bytes; `None` when there is no such object.
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Writes (or replaces) an object, served later with this content type.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> anyhow::Result<()>;
    /// Deletes an object; deleting one that is not there is no error.
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
}

/// The image store of this process and where its published images are read.
#[derive(Clone)]
pub struct Images {
    pub store: Arc<dyn ImageStore>,
    /// The base URL of published images, without a trailing slash.
    pub public_base: String,
    /// The local store, when it is the one: the local server mounts its upload and download
    /// routes ([`local::mount`]).
    #[cfg(feature = "server")]
    pub local: Option<Arc<local::LocalImages>>,
}

impl Images {
    /// The store the configuration names. The local store's form posts to the API itself,
    /// at `PUBLIC_API_URL`.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let public_base = config.images.public_base(&config.oauth.issuer);
        match &config.images.store {
            ImageStoreConfig::S3 { bucket, endpoint } => Ok(Images {
                store: Arc::new(S3Images::new(
                    bucket.clone(),
                    endpoint.clone(),
                    config.deadlines.clone(),
                )),
                public_base,
                #[cfg(feature = "server")]
                local: None,
            }),
            #[cfg(feature = "server")]
            ImageStoreConfig::Local => {
                let local = Arc::new(local::LocalImages::new(
                    config.data_dir.join("images"),
                    format!(
                        "{}/local/uploads",
                        config.oauth.issuer.trim_end_matches('/')
                    ),
                ));
                Ok(Images {
                    store: local.clone(),
                    public_base,
                    local: Some(local),
                })
            }
            #[cfg(not(feature = "server"))]
            ImageStoreConfig::Local => {
                anyhow::bail!("IMAGES_BUCKET is required: this binary has no local image store")
            }
        }
    }

    /// The URL a published object is read at.
    pub fn public_url(&self, key: &str) -> String {
        format!("{}/{key}", self.public_base)
    }

    /// The key of a URL [`Images::public_url`] made, if it is one.
    pub fn key_of<'u>(&self, url: &'u str) -> Option<&'u str> {
        url.strip_prefix(self.public_base.as_str())?
            .strip_prefix('/')
            .filter(|key| !key.is_empty())
    }
}

/// `routes` with the local store's upload and download routes when it is the store in use
/// (on Lambda, never: S3 and the CDN serve those).
pub fn mount_local(routes: Routes, state: &AppState) -> Routes {
    #[cfg(feature = "server")]
    return local::mount(routes, state);
    #[cfg(not(feature = "server"))]
    {
        let _ = state;
        routes
    }
}
