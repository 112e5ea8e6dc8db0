//! Durations as the configuration writes them: `500ms`, `30s`, `10m`, `2h`, `7d`.

use std::time::Duration;

/// Parses `<digits><unit>` with unit `ms`, `s`, `m`, `h` or `d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit (use ms, s, m, h or d)"))?;
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit `{unit}` (use ms, s, m, h or d)"
            ))
        }
    };
    value
        .checked_mul(millis_per_unit)
        .filter(|ms| *ms <= 10 * 365 * 86_400_000)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is longer than ten years"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
    }

    #[test]
    fn refuses_bad_text() {
        for bad in [
            "",
            "10",
            "m",
            "-5s",
            "5 weeks",
            "1.5h",
            "99999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
