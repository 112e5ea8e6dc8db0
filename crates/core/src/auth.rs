//! Authentication: Argon2id password hashes (computed off the async executor) and signed
//! bearer tokens (HS256 JWT; every other algorithm, `none` included, is refused).

use crate::error::{AppError, AppResult};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordVerifier};
use escrow_domain::{Password, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Who is calling, as proven by a valid token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: i64,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    iat: i64,
    exp: i64,
}

/// Issues and checks bearer tokens.
#[derive(Clone)]
pub struct Tokens {
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
    validation: Arc<Validation>,
    ttl: Duration,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: Arc::new(EncodingKey::from_secret(secret)),
            decoding: Arc::new(DecodingKey::from_secret(secret)),
            validation: Arc::new(validation),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, caller: Caller) -> AppResult<String> {
        let now = escrow_store::now_millis() / 1000;
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: caller.user_id.to_string(),
            role: caller.role,
            iat: now,
            exp: now + ttl,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|err| AppError::internal("signing a token", err))
    }

    pub fn verify(&self, token: &str) -> AppResult<Caller> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AppError::Unauthorized("the token is invalid or expired".into()))?;
        let user_id = data
            .claims
            .sub
            .parse()
            .map_err(|_| AppError::Unauthorized("the token is invalid or expired".into()))?;
        Ok(Caller {
            user_id,
            role: data.claims.role,
        })
    }
}

/// Argon2id hashing with the library's recommended parameters, run on the blocking pool so
/// a login storm cannot stall the executor.
#[derive(Clone)]
pub struct Passwords {
    /// A hash of a random password, verified against when the e-mail is unknown so that an
    /// unknown e-mail costs the same time as a wrong password.
    decoy_hash: Arc<str>,
}

impl Passwords {
    pub async fn new() -> AppResult<Self> {
        let random: String = {
            use rand::Rng;
            rand::thread_rng()
                .sample_iter(&rand::distributions::Alphanumeric)
                .take(32)
                .map(char::from)
                .collect()
        };
        let decoy = Password::parse(&random).map_err(|err| AppError::internal("decoy", err))?;
        let decoy_hash = Self::hash_blocking(decoy).await?;
        Ok(Self {
            decoy_hash: decoy_hash.into(),
        })
    }

    pub async fn hash(&self, password: Password) -> AppResult<String> {
        Self::hash_blocking(password).await
    }

    async fn hash_blocking(password: Password) -> AppResult<String> {
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|err| AppError::internal("hashing a password", err))
        })
        .await
        .map_err(|err| AppError::internal("hashing task", err))?
    }

    /// Checks `password` against `hash`, or against the decoy when there is no user.
    pub async fn verify(&self, password: String, hash: Option<String>) -> AppResult<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy_hash.to_string());
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .map_err(|err| AppError::internal("verifying task", err))?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_other_keys() {
        let tokens = Tokens::new(b"secret-one", Duration::from_secs(60));
        let caller = Caller {
            user_id: 7,
            role: Role::Seller,
        };
        let token = tokens.issue(caller).unwrap_or_default();
        assert_eq!(tokens.verify(&token).ok(), Some(caller));
        let other = Tokens::new(b"secret-two", Duration::from_secs(60));
        assert!(other.verify(&token).is_err());
        assert!(tokens.verify("not.a.token").is_err());
    }
}
