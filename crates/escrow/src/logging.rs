//! The text log's field formatting: one event, one line. Values from requests (a webhook's
//! `imp_uid`, a path) are written with their control characters escaped, so a newline in
//! one cannot start a line of the attacker's choosing. The JSON log escapes them already.

use std::fmt;
use tracing::field::Field;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{self, Writer};
use tracing_subscriber::fmt::FormatFields;

/// The text format's fields: `message key=value ...` like the default, escaped.
pub fn text_fields() -> impl for<'writer> FormatFields<'writer> + 'static {
    format::debug_fn(
        |writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug| {
            let text = escape_controls(&format!("{value:?}"));
            match field.name() {
                "message" => writer.write_str(&text),
                name => write!(writer, "{}={text}", name.trim_start_matches("r#")),
            }
        },
    )
    .delimited(" ")
}

/// `text` with every control character written as its Rust escape (`\n`, `\u{1b}`).
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_debug());
        } else {
            escaped.push(c);
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        for (raw, written) in [
            ("imp_123", "imp_123"),
            (
                "imp_1\n2026-01-01 INFO forged",
                "imp_1\\n2026-01-01 INFO forged",
            ),
            ("a\r\tb\u{1b}[31m", "a\\r\\tb\\u{1b}[31m"),
            ("결제 \"완료\"", "결제 \"완료\""),
        ] {
            assert_eq!(escape_controls(raw), written);
        }
    }
}
