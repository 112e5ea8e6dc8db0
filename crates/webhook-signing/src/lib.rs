//! Standard Webhooks signing: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed with
//! the base64-decoded part of a `whsec_` secret. One place for everything that signs (the
//! service's outgoing webhooks, the PortOne V2 sandbox) and verifies (PortOne V2's webhooks).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of key in a new secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;
/// How far a signature's timestamp may be from now, either way (the specification's 5 min).
pub const TOLERANCE_S: i64 = 5 * 60;

/// A new random secret, `whsec_` + base64.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut key = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

fn mac(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<Hmac<Sha256>> {
    // The prefix is optional: PortOne hands out its secrets both ways.
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(mac)
}

/// The `webhook-signature` header of one attempt; `None` when `secret` is not base64
/// (after an optional `whsec_`).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let mac = mac(secret, id, timestamp, body.as_bytes())?;
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Why a webhook was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// `webhook-id`, `webhook-timestamp` or `webhook-signature` is absent or unreadable.
    MissingHeader,
    /// The timestamp is more than [`TOLERANCE_S`] away from `now`.
    Stale,
    /// No `v1,` signature of the list matches (or the secret is unusable).
    BadSignature,
}

/// Checks a delivery's headers against `body` at unix time `now`: one of the
/// space-separated `v1,<base64>` signatures must be ours, compared in constant time.
pub fn verify(
    secret: &str,
    id: Option<&str>,
    timestamp: Option<&str>,
    signatures: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let (Some(id), Some(timestamp), Some(signatures)) = (id, timestamp, signatures) else {
        return Err(VerifyError::MissingHeader);
    };
    let timestamp: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::MissingHeader)?;
    if (now - timestamp).abs() > TOLERANCE_S {
        return Err(VerifyError::Stale);
    }
    let Some(mac) = mac(secret, id, timestamp, body) else {
        return Err(VerifyError::BadSignature);
    };
    let wanted = mac.finalize().into_bytes();
    let matches = signatures
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|given| {
            // Constant time over equal lengths: the length is public (32 bytes).
            given.len() == wanted.len()
                && given
                    .iter()
                    .zip(wanted.iter())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
    if matches {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const AT: i64 = 1_614_265_330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_as_the_reference_libraries() {
        assert_eq!(sign(SECRET, ID, AT, BODY).as_deref(), Some(SIGNATURE));
        let bare = SECRET.trim_start_matches(SECRET_PREFIX);
        assert_eq!(sign(bare, ID, AT, BODY).as_deref(), Some(SIGNATURE));
    }

    #[test]
    fn a_new_secret_signs_and_differs_each_time() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert!(sign(&a, "id", 1, "{}").is_some());
        assert_eq!(sign("not base64!", "id", 1, "{}"), None);
    }

    #[test]
    fn verifies_the_reference_example_and_refuses_the_rest() {
        let at = AT.to_string();
        let check = |sigs: &str, body: &str, now: i64| {
            verify(
                SECRET,
                Some(ID),
                Some(&at),
                Some(sigs),
                body.as_bytes(),
                now,
            )
        };
        assert_eq!(check(SIGNATURE, BODY, AT), Ok(()));
        assert_eq!(check(&format!("v1,bm90 {SIGNATURE}"), BODY, AT), Ok(()));
        assert_eq!(check(SIGNATURE, "{}", AT), Err(VerifyError::BadSignature));
        assert_eq!(check("v2,abc", BODY, AT), Err(VerifyError::BadSignature));
        assert_eq!(
            check(SIGNATURE, BODY, AT + TOLERANCE_S + 1),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(
                SECRET,
                None,
                Some(&at),
                Some(SIGNATURE),
                BODY.as_bytes(),
                AT
            ),
            Err(VerifyError::MissingHeader)
        );
    }
}
