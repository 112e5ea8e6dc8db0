//! Standard Webhooks signing: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed with
//! the base64-decoded part of a `whsec_` secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of key in a new secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A new random secret, `whsec_` + base64.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut key = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The `webhook-signature` header of one attempt; `None` when `secret` is not a `whsec_`
/// secret (only ever ours, so a stored secret always signs).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// How far a received webhook's `webhook-timestamp` may be from now: the specification's
/// five minutes, against replays.
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// Why a received webhook is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("the webhook-id, webhook-timestamp and webhook-signature headers are required")]
    Missing,
    #[error("the webhook's timestamp is more than five minutes from now")]
    Stale,
    #[error("no webhook signature matches")]
    BadSignature,
}

/// The three headers of a received webhook, as sent.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    /// Space-separated `v1,<base64>` entries (several while a secret is rotated).
    pub signatures: Option<&'a str>,
}

/// Checks a received webhook against `secret` (`whsec_` + base64, or the base64 alone, as
/// PortOne hands it out) at `now` (unix seconds): one `v1` signature must match, compared
/// in constant time.
pub fn verify(secret: &str, received: Received<'_>, body: &[u8], now: i64) -> Result<(), Rejected> {
    let (Some(id), Some(timestamp), Some(signatures)) =
        (received.id, received.timestamp, received.signatures)
    else {
        return Err(Rejected::Missing);
    };
    let at: i64 = timestamp.trim().parse().map_err(|_| Rejected::Stale)?;
    if (now - at).abs() > TOLERANCE_SECS {
        return Err(Rejected::Stale);
    }
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .map_err(|_| Rejected::BadSignature)?;
    let matches = |signature: &[u8]| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return false;
        };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    };
    let found = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .any(|signature| matches(&signature));
    if found {
        Ok(())
    } else {
        Err(Rejected::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_as_the_reference_libraries() {
        let cases = [(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        )];
        for (secret, id, timestamp, body, expected) in cases {
            assert_eq!(sign(secret, id, timestamp, body).as_deref(), Some(expected));
        }
    }

    #[test]
    fn a_new_secret_signs_and_differs_each_time() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert!(sign(&a, "id", 1, "{}").is_some());
        assert_eq!(sign("not-a-secret", "id", 1, "{}"), None);
    }

    fn received<'a>(id: &'a str, timestamp: &'a str, signatures: &'a str) -> Received<'a> {
        Received {
            id: Some(id),
            timestamp: Some(timestamp),
            signatures: Some(signatures),
        }
    }

    #[test]
    fn verifies_what_it_signs_within_five_minutes() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let bare = secret.trim_start_matches(SECRET_PREFIX);
        let body = r#"{"test": 2432232314}"#;
        let (id, at) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330);
        let signed = sign(secret, id, at, body).unwrap_or_default();
        // A rotated-out signature first: any one entry may match.
        let good = format!("v1,bm90LWl0 {signed}");
        let good = received(id, "1614265330", &good);
        let unsigned = Received {
            signatures: None,
            ..good
        };
        let cases = [
            ("signed", secret, good, body, at, Ok(())),
            (
                "secret without its prefix",
                bare,
                good,
                body,
                at + 300,
                Ok(()),
            ),
            (
                "too late",
                secret,
                good,
                body,
                at + 301,
                Err(Rejected::Stale),
            ),
            (
                "too early",
                secret,
                good,
                body,
                at - 301,
                Err(Rejected::Stale),
            ),
            (
                "body changed",
                secret,
                good,
                "{}",
                at,
                Err(Rejected::BadSignature),
            ),
            (
                "another secret",
                "whsec_AAAA",
                good,
                body,
                at,
                Err(Rejected::BadSignature),
            ),
            (
                "another id",
                secret,
                received("msg_x", "1614265330", &signed),
                body,
                at,
                Err(Rejected::BadSignature),
            ),
            (
                "v2 entries only",
                secret,
                received(id, "1614265330", "v2,abc"),
                body,
                at,
                Err(Rejected::BadSignature),
            ),
            (
                "no signature",
                secret,
                unsigned,
                body,
                at,
                Err(Rejected::Missing),
            ),
        ];
        for (name, secret, received, body, now, expected) in cases {
            assert_eq!(
                verify(secret, received, body.as_bytes(), now),
                expected,
                "{name}"
            );
        }
    }
}
