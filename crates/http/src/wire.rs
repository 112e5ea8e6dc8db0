//! Shapes shared by every resource's wire types.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A stored time (unix milliseconds) as an RFC 3339 UTC string.
pub fn rfc3339(millis: i64) -> String {
    Time(millis).to_string()
}

/// A stored time (unix milliseconds) that serialises as an RFC 3339 UTC string,
/// `2023-11-14T22:13:20.123Z` (the fraction only when not zero, without trailing zeros, as
/// `time`'s `Rfc3339` writes it), without a `String` of its own or `time`'s general
/// formatter: a catalogue page writes dozens of them (BENCHMARKS.md).
#[derive(Debug, Clone, Copy)]
pub struct Time(pub i64);

impl Time {
    /// The text in `buf`; empty for a time RFC 3339 cannot write (outside years 0-9999).
    fn write(self, buf: &mut [u8; 24]) -> &str {
        let Ok(at) = OffsetDateTime::from_unix_timestamp(self.0.div_euclid(1000)) else {
            return "";
        };
        let (year, month, day) = at.to_calendar_date();
        let Ok(year) = u32::try_from(year) else {
            return "";
        };
        if year > 9999 {
            return "";
        }
        let (hour, minute, second) = at.to_hms();
        let fields = [
            (year / 100, 0),
            (year % 100, 2),
            (u32::from(u8::from(month)), 5),
            (u32::from(day), 8),
            (u32::from(hour), 11),
            (u32::from(minute), 14),
            (u32::from(second), 17),
        ];
        *buf = *b"0000-00-00T00:00:00.000Z";
        for (value, at) in fields {
            buf[at] = b'0' + (value / 10) as u8;
            buf[at + 1] = b'0' + (value % 10) as u8;
        }
        let mut millis = self.0.rem_euclid(1000) as u32;
        let mut len = 19;
        if millis > 0 {
            buf[20] = b'0' + (millis / 100) as u8;
            buf[21] = b'0' + (millis / 10 % 10) as u8;
            buf[22] = b'0' + (millis % 10) as u8;
            len = 23;
            while millis.is_multiple_of(10) {
                millis /= 10;
                len -= 1;
            }
        }
        buf[len] = b'Z';
        std::str::from_utf8(&buf[..=len]).unwrap_or_default()
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.write(&mut [0; 24]))
    }
}

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.write(&mut [0; 24]))
    }
}

/// `axum::Json` with its buffer sized up front. axum's starts small, and a catalogue page
/// would grow it several times, copying each time.
pub struct SizedJson<T> {
    pub body: T,
    pub capacity: usize,
}

impl<T: Serialize> IntoResponse for SizedJson<T> {
    fn into_response(self) -> Response {
        let mut buf = Vec::with_capacity(self.capacity);
        match serde_json::to_writer(&mut buf, &self.body) {
            Ok(()) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                buf,
            )
                .into_response(),
            // As axum's `Json` does; the problem+json layer gives it a body.
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
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

    /// The same text as `time`'s own RFC 3339 formatter, over 40 years of odd instants.
    #[test]
    fn times_match_the_time_crate() {
        use time::format_description::well_known::Rfc3339;
        let by_time_crate = |millis: i64| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
                .expect("in range")
                .format(&Rfc3339)
                .expect("formats")
        };
        let mut instants = vec![100, 120, 1_010, 999, 60_000, 253_402_300_799_999];
        let mut millis: i64 = -86_400_000 * 365;
        while millis < 86_400_000 * 365 * 40 {
            instants.push(millis);
            millis += 7_777_777_771 + millis.rem_euclid(10) * 3;
        }
        for millis in instants {
            assert_eq!(super::rfc3339(millis), by_time_crate(millis), "at {millis}");
        }
    }
}
