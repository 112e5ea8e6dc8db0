//! Extractors that wrap axum's own so that every malformed input gets the same
//! problem+json answer, with the failing field named where serde can tell.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap};
use bytes::Bytes;
use escrow_core::auth::Caller;
use escrow_core::AppError;
use escrow_domain::FieldError;
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use std::net::SocketAddr;

/// A JSON body, deserialised with the path of the first bad field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        if let Some(content_type) = content_type {
            let essence = content_type.split(';').next().unwrap_or_default().trim();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(AppError::BadRequest {
                    code: "unsupported_media_type",
                    message: "send the body as application/json".into(),
                }
                .into());
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge("the request body is too large".into())
            } else {
                AppError::BadRequest {
                    code: "bad_request",
                    message: "the request body could not be read".into(),
                }
            }
        })?;
        parse_json(&bytes).map(ApiJson).map_err(ApiError)
    }
}

/// A body a call may leave out: none (or only whitespace) is `T::default()`.
pub fn optional_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, AppError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_json(bytes)
    }
}

/// Parses JSON, telling syntax errors (400) from type errors on a field (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let (path, inner) = match parsed {
        Ok(value) => match deserializer.end() {
            Ok(()) => return Ok(value),
            Err(trailing) => (".".to_string(), trailing),
        },
        Err(err) => (err.path().to_string(), err.into_inner()),
    };
    Err(if inner.is_syntax() || inner.is_eof() {
        AppError::BadRequest {
            code: "malformed_json",
            message: format!("the body is not valid JSON: {inner}"),
        }
    } else if missing_field(&inner.to_string()).is_some() {
        AppError::Validation(missing_fields::<T>(bytes))
    } else {
        AppError::Validation(vec![FieldError {
            field: if path == "." { "body".into() } else { path },
            message: clean_serde_message(&inner.to_string()),
        }])
    })
}

/// The most missing fields one answer lists.
const MAX_MISSING_REPORTED: usize = 32;

/// Every field the body lacks, each under its own path (serde names only the first, at its
/// parent's path): each one found is given a stand-in of a type it accepts and the body is
/// read again. A problem other than a missing field ends the list, reported as well.
fn missing_fields<T: DeserializeOwned>(bytes: &[u8]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return errors;
    };
    for _ in 0..MAX_MISSING_REPORTED {
        let Err(err) = serde_path_to_error::deserialize::<_, T>(&body) else {
            break;
        };
        let message = err.inner().to_string();
        let Some(name) = missing_field(&message) else {
            errors.push(FieldError {
                field: err.path().to_string(),
                message: clean_serde_message(&message),
            });
            break;
        };
        let parent: Vec<Segment> = err.path().iter().cloned().collect();
        let field = child_path(&err.path().to_string(), name);
        errors.push(FieldError {
            field: field.clone(),
            message: "is required".into(),
        });
        if !give_stand_in::<T>(&mut body, &parent, name, &field) {
            break;
        }
    }
    errors
}

/// `name` of serde's "missing field `name`".
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")?
        .split('`')
        .next()
        .filter(|name| !name.is_empty())
}

fn child_path(parent: &str, name: &str) -> String {
    if parent == "." {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// Sets `name` under `parent` to the first stand-in its type accepts (the body then fails
/// elsewhere or not at all); false when none fits or the parent is not an object.
fn give_stand_in<T: DeserializeOwned>(
    body: &mut serde_json::Value,
    parent: &[Segment],
    name: &str,
    field: &str,
) -> bool {
    let stand_ins = [
        serde_json::json!(""),
        serde_json::json!(0),
        serde_json::json!(false),
        serde_json::json!([]),
        serde_json::json!({}),
    ];
    for stand_in in stand_ins {
        let Some(object) = value_at(body, parent).and_then(|v| v.as_object_mut()) else {
            return false;
        };
        object.insert(name.to_string(), stand_in);
        match serde_path_to_error::deserialize::<_, T>(&*body) {
            Err(err) if err.path().to_string() == field => continue,
            _ => return true,
        }
    }
    false
}

fn value_at<'v>(
    value: &'v mut serde_json::Value,
    path: &[Segment],
) -> Option<&'v mut serde_json::Value> {
    path.iter().try_fold(value, |value, segment| match segment {
        Segment::Map { key } => value.get_mut(key.as_str()),
        Segment::Seq { index } => value.get_mut(*index),
        _ => None,
    })
}

/// serde's messages end with " at line 1 column 12": useless to a client.
fn clean_serde_message(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// Query parameters, deserialised with the failing parameter named.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|err| {
                let field = err.path().to_string();
                ApiError(AppError::Validation(vec![FieldError {
                    field,
                    message: clean_serde_message(&err.into_inner().to_string()),
                }]))
            })
    }
}

/// A numeric id from the path; anything else is a 422 naming the parameter.
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let id = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError(AppError::NotFound("no such resource".into())))
            .and_then(|params| {
                let (name, value) = params
                    .iter()
                    .last()
                    .ok_or_else(|| ApiError(AppError::NotFound("no such resource".into())))?;
                value
                    .parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .map(PathId)
                    .ok_or_else(|| ApiError(AppError::field(name, "must be a positive integer id")))
            })?;
        Ok(id)
    }
}

/// Two positive integer ids of a path, in the order they appear.
pub struct PathIds(pub i64, pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError(AppError::NotFound("no such resource".into())))?;
        let mut ids = Vec::with_capacity(2);
        for (name, value) in params.iter() {
            let id = value
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| ApiError(AppError::field(name, "must be a positive integer id")))?;
            ids.push(id);
        }
        match ids[..] {
            [first, second] => Ok(PathIds(first, second)),
            _ => Err(ApiError(AppError::NotFound("no such resource".into()))),
        }
    }
}

/// The signed-in caller, from `Authorization: Bearer <token>`.
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)?.ok_or_else(|| {
            AppError::Unauthorized("sign in: send Authorization: Bearer <token>".into())
        })?;
        Ok(Auth(state.members.authenticate(token).await?))
    }
}

/// The token of `Authorization: Bearer <token>`, the one reading of that header for every
/// use: `None` without the header, an error for another scheme. The scheme is matched in
/// any case (RFC 9110 §11.1).
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AppError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed =
        || AppError::Unauthorized("the Authorization header must be `Bearer <token>`".into());
    let value = value.to_str().map_err(|_| malformed())?.trim();
    let (scheme, token) = value.split_once([' ', '\t']).ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(Some(token))
}

/// The client's address, for throttling and the webhook allow-list; `unknown` when the
/// server has none. An IPv4 client of a dual-stack listener is named by its IPv4 address.
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_canonical().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(ClientAddr(addr))
    }
}
