//! Shapes shared by every resource's wire types.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A stored time (unix milliseconds) as an RFC 3339 UTC string, e.g.
/// `2023-11-14T22:13:20.123Z`; empty for a time RFC 3339 cannot write.
pub fn rfc3339(millis: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A stored time (unix milliseconds) that serialises as [`rfc3339`] writes it.
#[derive(Debug, Clone, Copy)]
pub struct Time(pub i64);

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Through a `String`: `time` inlines its formatter there, and writing into a stack
        // buffer through `io::Write` took more instructions (BENCHMARKS.md).
        serializer.serialize_str(&rfc3339(self.0))
    }
}

/// A command's answer with nothing more to say.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    pub success: bool,
    pub message: String,
}

impl Done {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            success: true,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_utc_rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            serde_json::to_string(&super::Time(1_700_000_000_123)).expect("serialises"),
            "\"2023-11-14T22:13:20.123Z\""
        );
        assert_eq!(super::rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(super::rfc3339(i64::MAX), "");
    }
}
