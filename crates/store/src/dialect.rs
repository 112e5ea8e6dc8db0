//! Which backend a URL names, and URLs fit for messages.

use crate::error::StoreError;

/// Which SQL the connected backend speaks, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    MySql,
}

impl Dialect {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            if url.contains(":memory:") || url.contains("mode=memory") {
                return Err(StoreError::InMemorySqlite);
            }
            Ok(Dialect::Sqlite)
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            Ok(Dialect::MySql)
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::MySql => "mysql",
        }
    }
}

/// A URL with its password hidden, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_a_dialect_or_fail_loudly() {
        assert_eq!(
            Dialect::from_url("sqlite://escrow.db").ok(),
            Some(Dialect::Sqlite)
        );
        assert_eq!(
            Dialect::from_url("mysql://root@localhost/x").ok(),
            Some(Dialect::MySql)
        );
        assert!(Dialect::from_url("postgres://x").is_err());
        assert!(Dialect::from_url("sqlite::memory:").is_err());
        assert!(Dialect::from_url("sqlite://x.db?mode=memory").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("mysql://root:pw@h/db"), "mysql://root:***@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
