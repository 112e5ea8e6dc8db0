//! Shapes shared by every resource's wire types.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A stored time (unix milliseconds) as an RFC 3339 UTC string, e.g.
/// `2023-11-14T22:13:20.123Z`; empty for a time RFC 3339 cannot write.
pub fn rfc3339(millis: i64) -> String {
    at(millis)
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A stored time (unix milliseconds) as an instant; None outside `time`'s range.
fn at(millis: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()
}

/// A stored time (unix milliseconds) that serialises as [`rfc3339`] writes it.
#[derive(Debug, Clone, Copy)]
pub struct Time(pub i64);

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Formatted on the stack, not into a `String` of its own: a catalogue page writes
        // forty of these.
        let mut buf = [0u8; 40];
        let len = {
            let mut out = &mut buf[..];
            let formatted = at(self.0).and_then(|at| at.format_into(&mut out, &Rfc3339).ok());
            // Counted from what the writer took: `format_into`'s own count fell short of a
            // fraction's digits.
            formatted.map_or(0, |_| 40 - out.len())
        };
        serializer.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default())
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

    /// The stack-formatted `Time` writes what `rfc3339` writes, fractions and all.
    #[test]
    fn serialised_times_match_rfc3339() {
        let instants = [
            0,
            100,
            120,
            999,
            1_010,
            -1,
            1_700_000_000_123,
            253_402_300_799_999,
            i64::MAX,
        ];
        for millis in instants {
            let json = serde_json::to_string(&super::Time(millis)).expect("serialises");
            assert_eq!(
                json,
                format!("\"{}\"", super::rfc3339(millis)),
                "at {millis}"
            );
        }
    }
}
