//! `/auth/*`: sign-up, login and the caller's profile.

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Auth, ClientAddr};
use crate::state::AppState;
use crate::wire::rfc3339;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use escrow_core::members::{Member, NewMember, SignupFields};
use escrow_core::AppError;
use escrow_domain::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The roles a member can choose at sign-up.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignupRole {
    Buyer,
    Seller,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignupRequest {
    pub email: String,
    /// 8 to 128 characters.
    pub password: String,
    pub name: String,
    pub username: Option<String>,
    pub phone: Option<String>,
    /// `buyer` (default) or `seller`.
    pub role: Option<SignupRole>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignupResponse {
    pub success: bool,
    pub message: String,
    pub user_id: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub success: bool,
    pub message: String,
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// A member's profile (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBody {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub username: Option<String>,
    pub phone: Option<String>,
    #[schema(value_type = String, example = "buyer")]
    pub role: Role,
    pub created_at: String,
}

impl From<Member> for MemberBody {
    fn from(member: Member) -> Self {
        Self {
            user_id: member.id,
            email: member.email,
            name: member.name,
            username: member.username,
            phone: member.phone,
            role: member.role,
            created_at: rfc3339(member.created_at),
        }
    }
}

/// Signs up a buyer or a seller. Each client address may open a limited number of accounts
/// an hour (`ESCROW_SIGNUP_LIMIT`); beyond it, 429.
#[utoipa::path(post, path = "/auth/signup", tag = "members", request_body = SignupRequest,
    responses((status = 201, body = SignupResponse), (status = 409, description = "email_taken", body = Problem),
              (status = 422, body = Problem), (status = 429, description = "rate_limited", body = Problem)))]
pub async fn create_member(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<SignupRequest>,
) -> Result<(StatusCode, Json<SignupResponse>), ApiError> {
    let role = body.role.map(|role| match role {
        SignupRole::Buyer => "buyer",
        SignupRole::Seller => "seller",
    });
    let member = NewMember::parse(
        SignupFields {
            email: &body.email,
            password: &body.password,
            name: &body.name,
            username: body.username.as_deref(),
            phone: body.phone.as_deref(),
            role,
        },
        false,
    )
    .map_err(AppError::from)?;
    let user_id = state.members.sign_up_from(member, &client).await?;
    Ok((
        StatusCode::CREATED,
        Json(SignupResponse {
            success: true,
            message: "signed up".into(),
            user_id,
        }),
    ))
}

/// Logs in and returns a bearer token. Repeated failures are refused with 429.
#[utoipa::path(post, path = "/auth/login", tag = "members", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "invalid_credentials", body = Problem),
              (status = 429, description = "rate_limited", body = Problem)))]
pub async fn create_session(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    if body.password.len() > 1024 || body.email.len() > 1024 {
        return Err(AppError::InvalidCredentials.into());
    }
    let session = state
        .members
        .log_in(&body.email, &body.password, &client)
        .await?;
    Ok(Json(LoginResponse {
        success: true,
        message: "logged in".into(),
        token: session.token,
        token_type: "Bearer".into(),
        expires_in: session.expires_in,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutResponse {
    pub success: bool,
    pub message: String,
}

/// Signs the caller out everywhere: every token issued to them so far is refused from now on.
#[utoipa::path(post, path = "/auth/logout", tag = "members", security(("bearer" = [])),
    responses((status = 200, body = LogoutResponse), (status = 401, body = Problem)))]
pub async fn delete_session(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<LogoutResponse>, ApiError> {
    state.members.log_out(caller.user_id).await?;
    Ok(Json(LogoutResponse {
        success: true,
        message: "signed out; every token issued before now is revoked".into(),
    }))
}

/// The signed-in member.
#[utoipa::path(get, path = "/auth/me", tag = "members", security(("bearer" = [])),
    responses((status = 200, body = MemberBody), (status = 401, body = Problem)))]
pub async fn get_me(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<MemberBody>, ApiError> {
    let member = state
        .members
        .get(caller.user_id)
        .await
        .map_err(|err| match err {
            // A valid token for a user that no longer exists.
            AppError::NotFound(_) => {
                AppError::Unauthorized("the token's user does not exist".into())
            }
            other => other,
        })?;
    Ok(Json(member.into()))
}
