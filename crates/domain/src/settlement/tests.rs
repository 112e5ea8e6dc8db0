//! Settlement dates around weekends and holidays, and the Korean day boundary.

use super::*;
use time::macros::date;

fn calendar(delay: u32, holidays: &str) -> Calendar {
    Calendar::new(delay, parse_holidays(holidays).unwrap_or_default())
}

#[test]
fn available_on_skips_weekends_and_holidays() {
    // 2026-12-04 is a Friday; 2026-12-25 a Friday (Christmas); 2027-01-01 a Friday.
    let cases: &[(u32, &str, Date, Date)] = &[
        (0, "", date!(2026 - 12 - 02), date!(2026 - 12 - 02)),
        (0, "", date!(2026 - 12 - 05), date!(2026 - 12 - 05)),
        (
            0,
            "2026-12-02",
            date!(2026 - 12 - 02),
            date!(2026 - 12 - 02),
        ),
        (1, "", date!(2026 - 12 - 01), date!(2026 - 12 - 02)),
        (1, "", date!(2026 - 12 - 04), date!(2026 - 12 - 07)),
        (1, "", date!(2026 - 12 - 05), date!(2026 - 12 - 07)),
        (1, "", date!(2026 - 12 - 06), date!(2026 - 12 - 07)),
        (2, "", date!(2026 - 12 - 03), date!(2026 - 12 - 07)),
        (5, "", date!(2026 - 12 - 07), date!(2026 - 12 - 14)),
        (
            1,
            "2026-12-25",
            date!(2026 - 12 - 24),
            date!(2026 - 12 - 28),
        ),
        (
            1,
            "2026-12-07",
            date!(2026 - 12 - 04),
            date!(2026 - 12 - 08),
        ),
        (
            3,
            "2026-12-31, 2027-01-01",
            date!(2026 - 12 - 29),
            date!(2027 - 01 - 05),
        ),
        (
            1,
            "2026-12-05",
            date!(2026 - 12 - 04),
            date!(2026 - 12 - 07),
        ),
        (10, "", date!(2026 - 02 - 20), date!(2026 - 03 - 06)),
    ];
    for (delay, holidays, released, expected) in cases {
        assert_eq!(
            calendar(*delay, holidays).available_on(*released),
            *expected,
            "delay {delay}, holidays [{holidays}], released {released}"
        );
    }
}

#[test]
fn the_korean_date_turns_at_15_utc() {
    let cases: &[(i64, Date)] = &[
        (0, date!(1970 - 01 - 01)),
        // 2026-12-04T14:59:59.999Z is 23:59:59.999 in Seoul; a millisecond later it is Saturday.
        (1_796_396_399_999, date!(2026 - 12 - 04)),
        (1_796_396_400_000, date!(2026 - 12 - 05)),
    ];
    for (millis, expected) in cases {
        assert_eq!(korean_date(*millis), *expected, "{millis}");
    }
}

#[test]
fn holidays_parse_as_a_comma_separated_list() {
    assert_eq!(parse_holidays(""), Ok(BTreeSet::new()));
    assert_eq!(
        parse_holidays("2026-12-25,,2027-01-01 "),
        Ok([date!(2026 - 12 - 25), date!(2027 - 01 - 01)].into())
    );
    for bad in ["2026-13-01", "25.12.2026", "2026-12-25,tomorrow"] {
        assert!(parse_holidays(bad).is_err(), "{bad}");
    }
    assert_eq!(format_date(date!(2027 - 01 - 05)), "2027-01-05");
}
