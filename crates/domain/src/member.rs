//! Members: e-mail addresses, passwords and roles, parsed once at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A normalised (trimmed, lower-case) e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Self, String> {
        let email = text.trim().to_lowercase();
        if email.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        let (local, domain) = email
            .split_once('@')
            .ok_or_else(|| "must be an e-mail address".to_string())?;
        let valid = !local.is_empty()
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && !domain.contains('@');
        if valid {
            Ok(Self(email))
        } else {
            Err("must be an e-mail address".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed: 8..=128 characters. Never logged or printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(text: &str) -> Result<Self, String> {
        let chars = text.chars().count();
        if chars < 8 {
            Err("must be at least 8 characters".into())
        } else if chars > 128 {
            Err("must be at most 128 characters".into())
        } else {
            Ok(Self(text.to_string()))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// What a member may do. A seller can also buy; admins come only from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Buyer,
    Seller,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Seller => "seller",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "buyer" => Ok(Role::Buyer),
            "seller" => Ok(Role::Seller),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised() {
        assert_eq!(
            Email::parse(" Kim@Example.COM ").map(|e| e.to_string()),
            Ok("kim@example.com".to_string())
        );
        for bad in [
            "",
            "kim",
            "kim@",
            "@x.kr",
            "kim@x",
            "k im@x.kr",
            "a@b@c.kr",
            "kim@.kr",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_bounds_and_no_leak() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        let password = Password::parse("correct horse").ok();
        assert_eq!(format!("{password:?}"), "Some(Password(***))");
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::Buyer, Role::Seller, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert!(Role::parse("root").is_err());
    }
}
