//! The gateway's two ways to read many payments: by status within a time window, paged
//! (`GET /payments/status/{payment_status}`), and by a list of ids (`GET /payments`).
//!
//! The window filters each payment on the time of its current status (`ready`: started,
//! `paid`: paid, `cancelled`: cancelled, `failed`: failed; `all` applies that rule to each
//! payment), as the gateway's OpenAPI document defines `from` and `to`.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;

use super::{PaymentRecord, PaymentStatus, Refusal, State};

/// The longest window the gateway searches, and how far `from` defaults back from `to`.
const MAX_WINDOW_S: i64 = 90 * 24 * 60 * 60;
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;
/// The most ids one `GET /payments` may name.
const MAX_BATCH: usize = 100;

/// The time the window compares for a payment: the one of its current status.
fn status_time(p: &PaymentRecord) -> i64 {
    match p.status {
        PaymentStatus::Paid => p.paid_at,
        PaymentStatus::Cancelled => p.cancelled_at,
        PaymentStatus::Failed => p.failed_at,
        PaymentStatus::Ready => p.started_at,
    }
}

/// Every payment by (status, time of that status), so a window is a range read and the
/// cost of a list grows with what it answers, not with how many payments exist.
#[derive(Default)]
pub(crate) struct StatusTimeIndex {
    entries: BTreeSet<(PaymentStatus, i64, usize)>,
}

impl StatusTimeIndex {
    /// Record payment `index`; call after any change to its status or timestamps.
    pub(crate) fn insert(&mut self, payment: &PaymentRecord, index: usize) {
        self.entries
            .insert((payment.status, status_time(payment), index));
    }

    /// Where `payment` sits in the index; take it before changing the payment.
    pub(crate) fn position(payment: &PaymentRecord) -> IndexPosition {
        IndexPosition(payment.status, status_time(payment))
    }

    /// Move payment `index` from where it was (`before`) to where it is now.
    pub(crate) fn update(&mut self, before: IndexPosition, payment: &PaymentRecord, index: usize) {
        self.entries.remove(&(before.0, before.1, index));
        self.insert(payment, index);
    }

    fn window(
        &self,
        status: PaymentStatus,
        from: i64,
        to: i64,
    ) -> impl Iterator<Item = usize> + '_ {
        self.entries
            .range((status, from, 0)..=(status, to, usize::MAX))
            .map(|&(_, _, index)| index)
    }
}

/// A payment's (status, time of that status) as the index last saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexPosition(PaymentStatus, i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Started,
    Paid,
    Updated,
}

/// `GET /payments/status/{payment_status}` parameters, checked as the gateway does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListQuery {
    statuses: Vec<PaymentStatus>,
    page: usize,
    limit: usize,
    from: i64,
    to: i64,
    sort: SortKey,
    descending: bool,
}

fn bad(message: &str) -> Refusal {
    Refusal::new(400, message)
}

/// The last value given for `name` (an empty value counts as not given).
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, v)| k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim())
}

fn number<T: std::str::FromStr>(
    params: &[(String, String)],
    name: &str,
    message: &str,
) -> Result<Option<T>, Refusal> {
    param(params, name)
        .map(|v| v.parse().map_err(|_| bad(message)))
        .transpose()
}

impl ListQuery {
    /// Parse the path's status and the query; `now` (unix seconds) is `to`'s default.
    pub(crate) fn parse(
        payment_status: &str,
        params: &[(String, String)],
        now: i64,
    ) -> Result<Self, Refusal> {
        let statuses =
            match payment_status {
                "all" => PaymentStatus::ALL.to_vec(),
                s => match PaymentStatus::parse(s) {
                    Some(known) => vec![known],
                    None => return Err(bad(
                        "payment_status는 all, ready, paid, cancelled, failed 중 하나여야 합니다.",
                    )),
                },
            };
        let page_message = "page는 1 이상의 정수여야 합니다.";
        let page = number::<usize>(params, "page", page_message)?.unwrap_or(1);
        if page == 0 {
            return Err(bad(page_message));
        }
        let limit_message = "limit은 1 이상 1000 이하의 정수여야 합니다.";
        let limit = number::<usize>(params, "limit", limit_message)?.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(bad(limit_message));
        }
        let time_message = "from, to는 UNIX timestamp(초) 정수여야 합니다.";
        let to = number::<i64>(params, "to", time_message)?.unwrap_or(now);
        let from = number::<i64>(params, "from", time_message)?
            .unwrap_or_else(|| to.saturating_sub(MAX_WINDOW_S));
        if from > to {
            return Err(bad("from은 to보다 늦을 수 없습니다."));
        }
        if to.saturating_sub(from) > MAX_WINDOW_S {
            return Err(bad("검색기간은 최대 90일까지 지정할 수 있습니다."));
        }
        let sorting = param(params, "sorting").unwrap_or("-started");
        let descending = sorting.starts_with('-');
        let sort = match sorting.strip_prefix('-').unwrap_or(sorting) {
            "started" => SortKey::Started,
            "paid" => SortKey::Paid,
            "updated" => SortKey::Updated,
            _ => return Err(bad(
                "sorting은 -started, started, -paid, paid, -updated, updated 중 하나여야 합니다.",
            )),
        };
        Ok(Self {
            statuses,
            page,
            limit,
            from,
            to,
            sort,
            descending,
        })
    }
}

/// One page of a status list, as the gateway answers it; `previous`/`next` are 0 when
/// there is no such page.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PaymentPage {
    pub total: usize,
    pub previous: usize,
    pub next: usize,
    pub list: Vec<PaymentRecord>,
}

/// `GET /payments` ids: `imp_uid[]` and `merchant_uid[]`, also in PHP's indexed form
/// (`imp_uid[0]`), which the gateway's PHP client sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BatchQuery {
    imp_uids: Vec<String>,
    merchant_uids: Vec<String>,
}

fn is_array_key(key: &str, name: &str) -> bool {
    key.strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('['))
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|inner| inner.bytes().all(|b| b.is_ascii_digit()))
}

impl BatchQuery {
    pub(crate) fn parse(params: &[(String, String)]) -> Result<Self, Refusal> {
        let mut query = Self::default();
        for (key, value) in params {
            if is_array_key(key, "imp_uid") {
                query.imp_uids.push(value.clone());
            } else if is_array_key(key, "merchant_uid") {
                query.merchant_uids.push(value.clone());
            }
        }
        let asked = query.imp_uids.len() + query.merchant_uids.len();
        if asked == 0 {
            return Err(bad("imp_uid[] 또는 merchant_uid[] 를 지정해주셔야합니다."));
        }
        if asked > MAX_BATCH {
            return Err(bad("한 번에 최대 100건까지 조회할 수 있습니다."));
        }
        Ok(query)
    }
}

/// What a batch look-up found: the payments, and whether every id named one.
pub(crate) struct BatchAnswer {
    pub payments: Vec<PaymentRecord>,
    pub all_found: bool,
}

impl State {
    /// One page of the payments `query` selects, ordered by its sorting (creation order
    /// breaks ties, in the same direction).
    pub(crate) fn list_by_status(&self, query: &ListQuery) -> Result<PaymentPage, Refusal> {
        let mut matches: Vec<&PaymentRecord> = query
            .statuses
            .iter()
            .flat_map(|&status| self.by_status_time.window(status, query.from, query.to))
            .map(|index| &self.payments[index])
            .collect();
        let key = |p: &PaymentRecord| {
            let time = match query.sort {
                SortKey::Started => p.started_at,
                SortKey::Paid => p.paid_at,
                SortKey::Updated => p.updated_at,
            };
            (time, p.seq)
        };
        if query.descending {
            matches.sort_unstable_by_key(|p| std::cmp::Reverse(key(p)));
        } else {
            matches.sort_unstable_by_key(|p| key(p));
        }
        let total = matches.len();
        let skip = (query.page - 1).saturating_mul(query.limit);
        if query.page > 1 && skip >= total {
            return Err(bad("데이터 범위를 넘어선 page입니다."));
        }
        let list: Vec<PaymentRecord> = matches
            .into_iter()
            .skip(skip)
            .take(query.limit)
            .cloned()
            .collect();
        let next = if skip + list.len() < total {
            query.page + 1
        } else {
            0
        };
        Ok(PaymentPage {
            total,
            previous: query.page - 1,
            next,
            list,
        })
    }

    /// The payments `query` names, in the order asked, each once: by imp_uid, and by
    /// merchant_uid its latest attempt (as `/payments/find/{merchant_uid}` answers).
    pub(crate) fn lookup_many(&self, query: &BatchQuery) -> BatchAnswer {
        let by_imp_uid = query.imp_uids.iter().map(|id| self.payment(id));
        let by_merchant_uid = query
            .merchant_uids
            .iter()
            .map(|id| self.find(id, None, None));
        let mut seen = HashSet::new();
        let mut all_found = true;
        let mut payments = Vec::new();
        for found in by_imp_uid.chain(by_merchant_uid) {
            match found {
                Some(p) if seen.insert(p.imp_uid.as_str()) => payments.push(p.clone()),
                Some(_) => {}
                None => all_found = false,
            }
        }
        BatchAnswer {
            payments,
            all_found,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn list_query_defaults_and_refusals() {
        let q = ListQuery::parse("paid", &[], NOW).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (q.page, q.limit, q.from, q.to, q.sort, q.descending),
            (1, 20, NOW - MAX_WINDOW_S, NOW, SortKey::Started, true)
        );
        let q = ListQuery::parse("all", &params(&[("to", "1000000000")]), NOW)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (q.statuses.len(), q.from),
            (4, 1_000_000_000 - MAX_WINDOW_S)
        );
        let refused: &[(&str, &[(&str, &str)])] = &[
            ("done", &[]),
            ("PAID", &[]),
            ("paid", &[("page", "0")]),
            ("paid", &[("page", "-1")]),
            ("paid", &[("page", "x")]),
            ("paid", &[("limit", "0")]),
            ("paid", &[("limit", "1001")]),
            ("paid", &[("from", "yesterday")]),
            ("paid", &[("from", "11"), ("to", "10")]),
            ("paid", &[("from", "0"), ("to", "7776001")]),
            ("paid", &[("sorting", "-cancelled")]),
            ("paid", &[("sorting", "updated_at")]),
        ];
        for (status, pairs) in refused {
            let result = ListQuery::parse(status, &params(pairs), NOW);
            assert!(
                matches!(&result, Err(r) if r.status == 400 && r.code == -1),
                "{status} {pairs:?}: {result:?}"
            );
        }
        let widest = params(&[("from", "0"), ("to", "7776000"), ("limit", "1000")]);
        assert!(ListQuery::parse("paid", &widest, NOW).is_ok());
    }

    #[test]
    fn batch_query_reads_bracket_and_indexed_keys_only() {
        let q = BatchQuery::parse(&params(&[
            ("imp_uid[]", "a"),
            ("imp_uid[1]", "b"),
            ("imp_uid", "plain"),
            ("merchant_uid[]", "m"),
            ("imp_uid[x]", "odd"),
        ]))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(q.imp_uids, ["a", "b"]);
        assert_eq!(q.merchant_uids, ["m"]);
        let none = BatchQuery::parse(&params(&[("imp_uid", "plain")]));
        assert!(matches!(none, Err(r) if r.status == 400));
        let many: Vec<(String, String)> = (0..101)
            .map(|i| ("imp_uid[]".to_owned(), format!("imp_{i}")))
            .collect();
        assert!(matches!(BatchQuery::parse(&many), Err(r) if r.status == 400));
        assert!(BatchQuery::parse(&many[..100]).is_ok());
    }
}
