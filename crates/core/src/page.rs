//! Keyset pagination: `?limit=&cursor=`, the cursor an opaque token over the last id seen,
//! so a page costs the same at any depth and rows added meanwhile cause no repeats.

use crate::error::AppError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// A parsed page request: at most `limit` rows with ids below `before_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: i64,
    pub before_id: Option<i64>,
}

/// One page of results and the cursor of the next one, if any.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl PageRequest {
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, AppError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let before_id = cursor
            .filter(|c| !c.is_empty())
            .map(decode_cursor)
            .transpose()?;
        Ok(Self { limit, before_id })
    }

    /// Cuts the `limit + 1` rows fetched into a page; the extra row only proves there is more.
    pub fn into_page<T>(self, mut rows: Vec<T>, id_of: impl Fn(&T) -> i64) -> Page<T> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| encode_cursor(id_of(last)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    /// As [`PageRequest::into_page`], for rows read only among ids from `floor` up: a
    /// page they do not fill goes on below `floor` while ids remain there.
    pub fn into_window_page<T>(
        self,
        rows: Vec<T>,
        id_of: impl Fn(&T) -> i64,
        floor: i64,
    ) -> Page<T> {
        let mut page = self.into_page(rows, id_of);
        if page.next_cursor.is_none() && floor > 1 {
            page.next_cursor = Some(encode_cursor(floor));
        }
        page
    }
}

fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<i64, AppError> {
    let invalid = || AppError::field("cursor", "is not a cursor this service issued");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix("v1:")
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let page = PageRequest::parse(Some(2), None).ok();
        let rows = page.map(|p| p.into_page(vec![9_i64, 8, 7], |r| *r));
        let next = rows.and_then(|r| r.next_cursor);
        let again = PageRequest::parse(None, next.as_deref()).ok();
        assert_eq!(again.and_then(|p| p.before_id), Some(8));
        for bad in ["x", "djE6", "djE6LTE", "%%%"] {
            assert!(PageRequest::parse(None, Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn limit_bounds() {
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(101), None).is_err());
        assert_eq!(
            PageRequest::parse(None, None).ok().map(|p| p.limit),
            Some(20)
        );
    }

    #[test]
    fn last_page_has_no_cursor() {
        let page = PageRequest {
            limit: 3,
            before_id: None,
        }
        .into_page(vec![3_i64, 2], |r| *r);
        assert!(page.next_cursor.is_none());
    }

    #[test]
    fn a_window_page_goes_on_below_its_window_until_the_first_id() {
        let page = |before_id| PageRequest {
            limit: 3,
            before_id,
        };
        let short = page(Some(90)).into_window_page(vec![88_i64], |r| *r, 40);
        let next = PageRequest::parse(None, short.next_cursor.as_deref()).ok();
        assert_eq!(next.and_then(|p| p.before_id), Some(40));
        let full = page(None).into_window_page(vec![9_i64, 8, 7, 6], |r| *r, 5);
        let next = PageRequest::parse(None, full.next_cursor.as_deref()).ok();
        assert_eq!(next.and_then(|p| p.before_id), Some(7));
        assert!(page(Some(3))
            .into_window_page(vec![2_i64], |r| *r, 1)
            .next_cursor
            .is_none());
        assert!(page(Some(3))
            .into_window_page(Vec::<i64>::new(), |r| *r, -5)
            .next_cursor
            .is_none());
    }
}
