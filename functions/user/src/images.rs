//! `/api/user/profile/{avatar,banner}`: profile images, uploaded by the browser straight to
//! the image store with a presigned POST form, then completed here (checked and published).

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use buddo_shared::clock::rfc3339;
use buddo_shared::domain::account::images::{self, Slot, Upload};
use buddo_shared::http::openapi::ErrorBody;
use buddo_shared::http::{AuthUser, Json};
use buddo_shared::{ApiResult, AppState};

use crate::views::ProfileView;

#[derive(Deserialize, ToSchema)]
pub struct UploadBody {
    /// The type of the image to upload.
    #[schema(value_type = String, example = "image/png")]
    content_type: String,
}

/// An HTML form: post `fields` as they are, then the file as the field `file` (last), as
/// `multipart/form-data` to `url`.
#[derive(Serialize, ToSchema)]
pub struct UploadFormView {
    url: String,
    /// Hidden fields, sent exactly as given.
    fields: BTreeMap<String, String>,
}

/// Where and how to upload one image, and the key to complete it with.
#[derive(Serialize, ToSchema)]
pub struct ImageUploadView {
    upload: UploadFormView,
    /// The upload's key: send it to the `complete` endpoint once the form is posted.
    key: String,
    /// Until when the form can be posted and the key completed (RFC 3339).
    expires_at: String,
}

impl ImageUploadView {
    fn new(upload: Upload) -> Self {
        ImageUploadView {
            upload: UploadFormView {
                url: upload.form.url,
                fields: upload.form.fields,
            },
            key: upload.key,
            expires_at: rfc3339(upload.expires_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CompleteBody {
    /// The `key` the upload form was handed out with.
    key: String,
}

async fn start(
    state: AppState,
    auth: AuthUser,
    slot: Slot,
    body: UploadBody,
) -> ApiResult<Json<ImageUploadView>> {
    let upload = images::start(&state, &auth.user.id, slot, &body.content_type).await?;
    Ok(Json(ImageUploadView::new(upload)))
}

async fn complete(
    state: AppState,
    auth: AuthUser,
    slot: Slot,
    body: CompleteBody,
) -> ApiResult<Json<ProfileView>> {
    let user = images::complete(&state, &auth.user, slot, &body.key).await?;
    Ok(Json(ProfileView::new(&user)))
}

async fn remove(state: AppState, auth: AuthUser, slot: Slot) -> ApiResult<Json<ProfileView>> {
    let user = images::remove(&state, &auth.user, slot).await?;
    Ok(Json(ProfileView::new(&user)))
}

/// Starts uploading an avatar (PNG, JPEG or WebP, at most 5 MiB, 16×16 to 4096×4096 pixels):
/// an upload form valid for 10 minutes.
#[utoipa::path(post, path = "/api/user/profile/avatar", tag = "account",
    security(("user_jwt" = [])), request_body = UploadBody,
    responses(
        (status = 200, description = "The upload form", body = ImageUploadView),
        (status = 400, description = "`validation_failed`: not image/png, image/jpeg or image/webp", body = ErrorBody),
    ))]
pub async fn start_avatar(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<UploadBody>,
) -> ApiResult<Json<ImageUploadView>> {
    start(state, auth, Slot::Avatar, body).await
}

/// Starts uploading a banner (PNG, JPEG or WebP, at most 5 MiB, 16×16 to 8192×4096 pixels):
/// an upload form valid for 10 minutes.
#[utoipa::path(post, path = "/api/user/profile/banner", tag = "account",
    security(("user_jwt" = [])), request_body = UploadBody,
    responses(
        (status = 200, description = "The upload form", body = ImageUploadView),
        (status = 400, description = "`validation_failed`: not image/png, image/jpeg or image/webp", body = ErrorBody),
    ))]
pub async fn start_banner(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<UploadBody>,
) -> ApiResult<Json<ImageUploadView>> {
    start(state, auth, Slot::Banner, body).await
}

/// Completes an avatar upload: the file is checked, published, and becomes your avatar (the
/// previous one is deleted). A key completes once, whatever the outcome.
#[utoipa::path(post, path = "/api/user/profile/avatar/complete", tag = "account",
    security(("user_jwt" = [])), request_body = CompleteBody,
    responses(
        (status = 200, description = "The profile as it is now", body = ProfileView),
        (status = 400, description = "`upload_not_found` (not your avatar upload, used, expired or nothing uploaded yet), `invalid_image` (not an image of the declared type), `invalid_image_size`, `image_too_large`", body = ErrorBody),
    ))]
pub async fn complete_avatar(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<CompleteBody>,
) -> ApiResult<Json<ProfileView>> {
    complete(state, auth, Slot::Avatar, body).await
}

/// Completes a banner upload: the file is checked, published, and becomes your banner (the
/// previous one is deleted). A key completes once, whatever the outcome.
#[utoipa::path(post, path = "/api/user/profile/banner/complete", tag = "account",
    security(("user_jwt" = [])), request_body = CompleteBody,
    responses(
        (status = 200, description = "The profile as it is now", body = ProfileView),
        (status = 400, description = "`upload_not_found` (not your banner upload, used, expired or nothing uploaded yet), `invalid_image` (not an image of the declared type), `invalid_image_size`, `image_too_large`", body = ErrorBody),
    ))]
pub async fn complete_banner(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<CompleteBody>,
) -> ApiResult<Json<ProfileView>> {
    complete(state, auth, Slot::Banner, body).await
}

/// Removes your avatar (and deletes the image).
#[utoipa::path(delete, path = "/api/user/profile/avatar", tag = "account",
    security(("user_jwt" = [])),
    responses((status = 200, description = "The profile as it is now", body = ProfileView)))]
pub async fn remove_avatar(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<ProfileView>> {
    remove(state, auth, Slot::Avatar).await
}

/// Removes your banner (and deletes the image).
#[utoipa::path(delete, path = "/api/user/profile/banner", tag = "account",
    security(("user_jwt" = [])),
    responses((status = 200, description = "The profile as it is now", body = ProfileView)))]
pub async fn remove_banner(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<ProfileView>> {
    remove(state, auth, Slot::Banner).await
}
