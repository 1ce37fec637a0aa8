//! Profile and banner images (docs/architecture.md, "Profile images"). A user asks for an
//! upload form for one slot and one type; the browser posts the file straight to the image
//! store under a fresh key; completing the upload claims that key once, checks the file
//! really is an image of the declared type and of bounded size, publishes it under a new
//! public key and points the profile at it. Nothing the user uploaded is published or
//! referenced before it passed those checks.

use std::io::Cursor;
use std::time::Duration;

use image::{ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::identity::users::User;
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::images::{PostPolicy, PresignedPost};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Update, WriteOp};

/// The largest file accepted, enforced by the upload form's policy and again on completion.
pub const MAX_BYTES: u64 = 5 * 1024 * 1024;
/// How long an upload form can be used, and its key completed.
pub const UPLOAD_TTL: Duration = Duration::from_secs(10 * 60);
/// The smallest side of an image, in pixels.
pub const MIN_SIDE: u32 = 16;
/// Decoding allocates at most this: the largest banner (8192×4096) in RGBA is 128 MiB.
const MAX_DECODE_ALLOC: u64 = 160 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Avatar,
    Banner,
}

impl Slot {
    pub fn name(self) -> &'static str {
        match self {
            Slot::Avatar => "avatar",
            Slot::Banner => "banner",
        }
    }

    /// The profile attribute that holds the image's URL.
    fn attribute(self) -> &'static str {
        match self {
            Slot::Avatar => "avatar_url",
            Slot::Banner => "banner_url",
        }
    }

    /// The published images of a user in this slot are under `<prefix>/<user id>/`.
    fn prefix(self) -> &'static str {
        match self {
            Slot::Avatar => "avatars",
            Slot::Banner => "banners",
        }
    }

    /// The largest width and height.
    pub fn max_size(self) -> (u32, u32) {
        match self {
            Slot::Avatar => (4096, 4096),
            Slot::Banner => (8192, 4096),
        }
    }

    fn current(self, user: &User) -> Option<&str> {
        match self {
            Slot::Avatar => user.avatar_url.as_deref(),
            Slot::Banner => user.banner_url.as_deref(),
        }
    }
}

/// The image types accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageType {
    Png,
    Jpeg,
    Webp,
}

impl ImageType {
    pub const ALL: [ImageType; 3] = [ImageType::Png, ImageType::Jpeg, ImageType::Webp];

    /// A content type as sent (`image/png`, `image/jpeg`, `image/webp`; any case).
    pub fn parse(content_type: &str) -> ApiResult<Self> {
        let lower = content_type.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|t| t.mime() == lower)
            .ok_or_else(|| {
                ApiError::field(
                    "content_type",
                    "must be image/png, image/jpeg or image/webp",
                )
            })
    }

    pub fn mime(self) -> &'static str {
        match self {
            ImageType::Png => "image/png",
            ImageType::Jpeg => "image/jpeg",
            ImageType::Webp => "image/webp",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ImageType::Png => "png",
            ImageType::Jpeg => "jpg",
            ImageType::Webp => "webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            ImageType::Png => ImageFormat::Png,
            ImageType::Jpeg => ImageFormat::Jpeg,
            ImageType::Webp => ImageFormat::WebP,
        }
    }

    fn label(self) -> &'static str {
        match self {
            ImageType::Png => "PNG",
            ImageType::Jpeg => "JPEG",
            ImageType::Webp => "WebP",
        }
    }
}

fn invalid_image(ty: ImageType) -> ApiError {
    ApiError::bad_request(
        "invalid_image",
        format!("The file is not a valid {} image", ty.label()),
    )
}

/// Checks that `bytes` decode, in full, as an image of type `ty` whose size fits `slot`;
/// returns its width and height.
pub fn check(bytes: &[u8], ty: ImageType, slot: Slot) -> ApiResult<(u32, u32)> {
    // The declared type, not whatever the bytes would decode as: a browser shows the file by
    // the type it is served with.
    if image::guess_format(bytes).ok() != Some(ty.format()) {
        return Err(invalid_image(ty));
    }
    let reader = || ImageReader::with_format(Cursor::new(bytes), ty.format());
    // The header first: a huge image is refused before anything is allocated for it.
    let (width, height) = reader().into_dimensions().map_err(|_| invalid_image(ty))?;
    let (max_width, max_height) = slot.max_size();
    if width < MIN_SIDE || height < MIN_SIDE || width > max_width || height > max_height {
        return Err(ApiError::bad_request(
            "invalid_image_size",
            format!(
                "A {} must be from {MIN_SIDE}×{MIN_SIDE} to {max_width}×{max_height} pixels; \
                 this one is {width}×{height}",
                slot.name()
            ),
        ));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_width);
    limits.max_image_height = Some(max_height);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = reader();
    reader.limits(limits);
    reader.decode().map_err(|_| invalid_image(ty))?;
    Ok((width, height))
}

/// An upload handed out: the form, the key to complete, and until when.
pub struct Upload {
    pub form: PresignedPost,
    pub key: String,
    pub expires_at: OffsetDateTime,
}

/// What the table keeps of an upload handed out, under the user's partition.
#[derive(Serialize, Deserialize)]
struct PendingUpload {
    slot: String,
    content_type: String,
}

/// The object key of an upload: `uploads/<user id>/<upload id>`.
fn upload_key(user_id: &str, upload_id: &str) -> String {
    format!("uploads/{user_id}/{upload_id}")
}

/// The upload id of an object key, if it is an upload of this user's.
fn upload_id<'k>(user_id: &str, key: &'k str) -> Option<&'k str> {
    let id = key
        .strip_prefix("uploads/")?
        .strip_prefix(user_id)?
        .strip_prefix('/')?;
    let simple_uuid = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    simple_uuid.then_some(id)
}

fn storage_error(e: anyhow::Error) -> ApiError {
    tracing::error!(error = %format!("{e:#}"), "image store");
    ApiError::unavailable("Image storage is unavailable; try again")
}

fn upload_not_found() -> ApiError {
    ApiError::bad_request(
        "upload_not_found",
        "No upload of yours with this key is waiting for this image; ask for a new upload form",
    )
}

/// Hands out an upload form for one image of type `content_type` in `slot`.
pub async fn start(
    state: &AppState,
    user_id: &str,
    slot: Slot,
    content_type: &str,
) -> ApiResult<Upload> {
    let ty = ImageType::parse(content_type)?;
    let upload_id = uuid::Uuid::new_v4().simple().to_string();
    let key = upload_key(user_id, &upload_id);
    let now = state.now();
    let expires_at = now + UPLOAD_TTL;
    let pending = PendingUpload {
        slot: slot.name().into(),
        content_type: ty.mime().into(),
    };
    let mut item = store::to_item(&keys::image_upload(user_id, &upload_id), &pending)?;
    item.insert(store::TTL.into(), expires_at.unix_timestamp().into());
    state.table.write(vec![WriteOp::put_new(item)]).await?;
    let form = state
        .images
        .store
        .presign_post(&PostPolicy {
            key: &key,
            content_type: ty.mime(),
            max_bytes: MAX_BYTES,
            now,
            expires_at,
        })
        .await
        .map_err(storage_error)?;
    Ok(Upload {
        form,
        key,
        expires_at,
    })
}

/// Deletes an object whose loss only leaves garbage behind (logged, never an error: the
/// request's change is already made).
async fn discard(state: &AppState, key: &str) {
    if let Err(e) = state.images.store.delete(key).await {
        tracing::warn!(key, error = %format!("{e:#}"), "could not delete an image object");
    }
}

/// The user's published image of `slot` at `url`, if it is one (never an outside URL set
/// through the profile, never another user's object).
fn own_image_key<'u>(state: &AppState, user: &User, slot: Slot, url: &'u str) -> Option<&'u str> {
    let own = format!("{}/{}/", slot.prefix(), user.id);
    state.images.key_of(url).filter(|key| key.starts_with(&own))
}

/// Completes an upload: claims its key (once), checks the file, publishes it and points the
/// profile at it, deleting the image it replaces.
pub async fn complete(state: &AppState, user: &User, slot: Slot, key: &str) -> ApiResult<User> {
    let upload_id = upload_id(&user.id, key).ok_or_else(upload_not_found)?;
    let pending_key = keys::image_upload(&user.id, upload_id);
    let pending: PendingUpload = match state.table.get(&pending_key).await? {
        Some(item) => store::from_item(item)?,
        None => return Err(upload_not_found()),
    };
    if pending.slot != slot.name() {
        return Err(upload_not_found());
    }
    let ty = ImageType::parse(&pending.content_type)?;
    let images = &state.images.store;
    // Before the claim: completing too early leaves the form usable.
    let Some(size) = images.head(key).await.map_err(storage_error)? else {
        return Err(ApiError::bad_request(
            "upload_not_found",
            "Nothing has been uploaded with this key yet",
        ));
    };
    // Single use: of two completions at once, one claims the key.
    state
        .table
        .write(vec![WriteOp::delete_existing(pending_key.clone())])
        .await
        .on_condition(&pending_key, upload_not_found)?;
    let checked = match size {
        0 => Err(invalid_image(ty)),
        size if size > MAX_BYTES => Err(too_large()),
        _ => match images.get(key).await.map_err(storage_error)? {
            None => Err(upload_not_found()),
            Some(bytes) if bytes.len() as u64 > MAX_BYTES => Err(too_large()),
            Some(bytes) => check(&bytes, ty, slot).map(|_| bytes),
        },
    };
    let bytes = match checked {
        Ok(bytes) => bytes,
        Err(e) => {
            discard(state, key).await;
            return Err(e);
        }
    };
    let published = format!(
        "{}/{}/{}.{}",
        slot.prefix(),
        user.id,
        uuid::Uuid::new_v4().simple(),
        ty.extension()
    );
    images
        .put(&published, bytes, ty.mime())
        .await
        .map_err(storage_error)?;
    let url = state.images.public_url(&published);
    let update = Update::new(keys::user(&user.id))
        .when(Cond::Exists)
        .set("profile_updated_at", crate::clock::rfc3339(state.now()))
        .set(slot.attribute(), url);
    let item = match state
        .table
        .update_returning(update)
        .await
        .on_condition(&keys::user(&user.id), ApiError::invalid_token)
    {
        Ok(item) => item,
        Err(e) => {
            discard(state, &published).await;
            return Err(e);
        }
    };
    if let Some(previous) = slot
        .current(user)
        .and_then(|url| own_image_key(state, user, slot, url))
    {
        discard(state, previous).await;
    }
    discard(state, key).await;
    Ok(store::from_item(item)?)
}

fn too_large() -> ApiError {
    ApiError::bad_request(
        "image_too_large",
        format!("An image may be at most {} MiB", MAX_BYTES / (1024 * 1024)),
    )
}

/// Deletes the published images of a deleted account (failures are logged: nothing links to
/// them any more).
pub async fn discard_all(state: &AppState, user: &User) {
    for slot in [Slot::Avatar, Slot::Banner] {
        if let Some(key) = slot
            .current(user)
            .and_then(|url| own_image_key(state, user, slot, url))
        {
            discard(state, key).await;
        }
    }
}

/// Removes the image of `slot` from the profile, and deletes it when it is one of ours.
pub async fn remove(state: &AppState, user: &User, slot: Slot) -> ApiResult<User> {
    let Some(current) = slot.current(user) else {
        return Ok(user.clone());
    };
    let update = Update::new(keys::user(&user.id))
        .when(Cond::Exists)
        .set("profile_updated_at", crate::clock::rfc3339(state.now()))
        .remove(slot.attribute());
    let item = state
        .table
        .update_returning(update)
        .await
        .on_condition(&keys::user(&user.id), ApiError::invalid_token)?;
    if let Some(key) = own_image_key(state, user, slot, current) {
        discard(state, key).await;
    }
    Ok(store::from_item(item)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image::RgbImage::new(width, height)
            .write_to(&mut out, ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn only_the_three_types_are_accepted() {
        assert_eq!(ImageType::parse("IMAGE/PNG").unwrap(), ImageType::Png);
        assert_eq!(ImageType::parse("image/webp").unwrap(), ImageType::Webp);
        for bad in ["image/gif", "image/svg+xml", "text/html", ""] {
            assert!(ImageType::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_image_must_decode_as_its_type_within_bounds() {
        assert_eq!(
            check(&png(16, 20), ImageType::Png, Slot::Avatar).unwrap(),
            (16, 20)
        );
        let code = |r: ApiResult<(u32, u32)>| r.unwrap_err().describe().0.to_string();
        assert_eq!(
            code(check(&png(16, 16), ImageType::Jpeg, Slot::Avatar)),
            "invalid_image"
        );
        assert_eq!(
            code(check(b"hello, not a png", ImageType::Png, Slot::Avatar)),
            "invalid_image"
        );
        let mut truncated = png(64, 64);
        truncated.truncate(truncated.len() / 2);
        assert_eq!(
            code(check(&truncated, ImageType::Png, Slot::Avatar)),
            "invalid_image"
        );
        assert_eq!(
            code(check(&png(15, 16), ImageType::Png, Slot::Avatar)),
            "invalid_image_size"
        );
        assert_eq!(
            code(check(&png(4097, 16), ImageType::Png, Slot::Avatar)),
            "invalid_image_size"
        );
        assert!(check(&png(4097, 16), ImageType::Png, Slot::Banner).is_ok());
        assert_eq!(
            code(check(&png(16, 4097), ImageType::Png, Slot::Banner)),
            "invalid_image_size"
        );
    }

    #[test]
    fn only_this_users_upload_keys_are_read() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(upload_id("u1", &format!("uploads/u1/{id}")), Some(id));
        assert_eq!(upload_id("u1", &format!("uploads/u2/{id}")), None);
        assert_eq!(upload_id("u1", &format!("uploads/u12/{id}")), None);
        assert_eq!(upload_id("u", &format!("uploads/u1/{id}")), None);
        assert_eq!(upload_id("u1", "uploads/u1/../x"), None);
    }
}
