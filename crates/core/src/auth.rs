//! Authentication: Argon2id password hashes (computed off the async executor) and signed
//! bearer tokens (HS256 JWT; every other algorithm, `none` included, is refused).

use crate::error::{AppError, AppResult};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::Argon2;
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
    /// The user's token version at issue; a logout moves it on and so revokes the token.
    #[serde(default)]
    ver: i64,
}

/// What a validly signed token claims; [`crate::members::Members::authenticate`] checks it
/// against the user as stored now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenClaims {
    pub caller: Caller,
    pub version: i64,
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
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
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

    pub fn issue(&self, caller: Caller, version: i64) -> AppResult<String> {
        let now = escrow_store::now_millis() / 1000;
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: caller.user_id.to_string(),
            role: caller.role,
            iat: now,
            exp: now + ttl,
            ver: version,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|err| AppError::internal("signing a token", err))
    }

    /// Checks the signature and the times: a token that claims to live longer than this
    /// service issues them (a leaked signing key's forgery) is refused like an expired one.
    pub fn verify(&self, token: &str) -> AppResult<TokenClaims> {
        let invalid = || AppError::Unauthorized("the token is invalid or expired".into());
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| invalid())?;
        let claims = data.claims;
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let leeway = i64::try_from(self.validation.leeway).unwrap_or_default();
        let now = escrow_store::now_millis() / 1000;
        if claims.exp.saturating_sub(claims.iat) > ttl || claims.iat > now + leeway {
            return Err(invalid());
        }
        let user_id = claims.sub.parse().map_err(|_| invalid())?;
        Ok(TokenClaims {
            caller: Caller {
                user_id,
                role: claims.role,
            },
            version: claims.ver,
        })
    }
}

/// Argon2id hashing with the library's recommended parameters, run on the blocking pool so
/// a login storm cannot stall the executor.
///
/// Argon2 work is bounded: at most half the cores hash at once (at least one), each in a
/// block buffer reused from hash to hash. A login storm then leaves the other cores to the
/// rest of the service, and memory stays at one 19 MiB buffer per slot instead of growing by
/// 19 MiB per concurrent login (freed buffers of that size are kept by the allocator's
/// per-thread arenas, so peak RSS followed the number of blocking threads that ever hashed).
#[derive(Clone)]
pub struct Passwords {
    /// A hash of a random password, verified against when the e-mail is unknown so that an
    /// unknown e-mail costs the same time as a wrong password.
    decoy_hash: Arc<str>,
    slots: Arc<HashSlots>,
}

struct HashSlots {
    permits: tokio::sync::Semaphore,
    buffers: std::sync::Mutex<Vec<Vec<argon2::Block>>>,
}

impl HashSlots {
    fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            permits: tokio::sync::Semaphore::new((cores / 2).max(1)),
            buffers: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Runs `work` on the blocking pool with a slot's buffer, waiting for a free slot.
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Vec<argon2::Block>) -> T + Send + 'static,
    ) -> AppResult<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|err| AppError::internal("hashing slots", err))?;
        let slots = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut buffer = slots
                .buffers
                .lock()
                .map(|mut b| b.pop())
                .unwrap_or_default()
                .unwrap_or_default();
            let result = work(&mut buffer);
            if let Ok(mut buffers) = slots.buffers.lock() {
                buffers.push(buffer);
            }
            result
        })
        .await
        .map_err(|err| AppError::internal("hashing task", err))
    }
}

/// Argon2 of `password` with `salt` into `out`, in `buffer` (resized to the parameters).
fn argon2_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    buffer: &mut Vec<argon2::Block>,
) -> Result<(), argon2::Error> {
    buffer.resize(argon.params().block_count(), argon2::Block::default());
    argon.hash_password_into_with_memory(password, salt, out, &mut buffer[..])
}

/// A new PHC-format Argon2id hash of `password` (the same as `Argon2::default().hash_password`).
fn hash_with(password: &[u8], buffer: &mut Vec<argon2::Block>) -> AppResult<String> {
    let fail =
        |err: &dyn std::fmt::Display| AppError::internal("hashing a password", err.to_string());
    let argon = Argon2::default();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|e| fail(&e))?;
    let mut out = vec![0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    argon2_into(&argon, password, salt_raw, &mut out, buffer).map_err(|e| fail(&e))?;
    let hash = PasswordHash {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::default().into()),
        params: argon2::password_hash::ParamsString::try_from(argon.params())
            .map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(argon2::password_hash::Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC-format `hash` (what `PasswordVerifier` does, in `buffer`).
fn verify_with(password: &[u8], hash: &str, buffer: &mut Vec<argon2::Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    if argon2_into(&argon, password, salt_raw, &mut out, buffer).is_err() {
        return false;
    }
    // `Output`'s equality is constant-time.
    argon2::password_hash::Output::new(&out).is_ok_and(|computed| computed == expected)
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
        let slots = Arc::new(HashSlots::new());
        let decoy_hash = slots
            .run(move |buffer| hash_with(decoy.expose().as_bytes(), buffer))
            .await??;
        Ok(Self {
            decoy_hash: decoy_hash.into(),
            slots,
        })
    }

    pub async fn hash(&self, password: Password) -> AppResult<String> {
        self.slots
            .run(move |buffer| hash_with(password.expose().as_bytes(), buffer))
            .await?
    }

    /// Checks `password` against `hash`, or against the decoy when there is no user.
    pub async fn verify(&self, password: String, hash: Option<String>) -> AppResult<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy_hash.to_string());
        let matches = self
            .slots
            .run(move |buffer| verify_with(password.as_bytes(), &hash, buffer))
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_argon2_matches_the_library() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut buffer = Vec::new();
        let ours = hash_with(b"correct horse", &mut buffer).unwrap_or_default();
        let parsed = PasswordHash::new(&ours).ok();
        assert!(parsed.as_ref().is_some_and(|p| Argon2::default()
            .verify_password(b"correct horse", p)
            .is_ok()));
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"battery staple", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(verify_with(b"battery staple", &theirs, &mut buffer));
        assert!(!verify_with(b"battery stapler", &theirs, &mut buffer));
        assert!(!verify_with(b"battery staple", "not a hash", &mut buffer));
    }

    #[test]
    fn tokens_round_trip_and_refuse_other_keys() {
        let tokens = Tokens::new(b"secret-one", Duration::from_secs(60));
        let caller = Caller {
            user_id: 7,
            role: Role::Seller,
        };
        let token = tokens.issue(caller, 3).unwrap_or_default();
        assert_eq!(
            tokens.verify(&token).ok(),
            Some(TokenClaims { caller, version: 3 })
        );
        let other = Tokens::new(b"secret-two", Duration::from_secs(60));
        assert!(other.verify(&token).is_err());
        assert!(tokens.verify("not.a.token").is_err());
    }
}
