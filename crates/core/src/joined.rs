//! Views read as one statement that joins a head (an order, a payment) to its children
//! (items, history entries): one result row per child, the head repeated on each. The rows
//! of a look-up batched on MySQL come in no promised order, so the children carry their
//! ids and are sorted by them.

use crate::error::AppResult;
use escrow_store::ReadRow;
use std::sync::atomic::{AtomicBool, Ordering};

/// One mapped row: the head on the first row mapped only (it is the same on every row),
/// and the row's child with its id (none when the join found none).
pub(crate) struct JoinedRow<H, C> {
    head: Option<H>,
    child: Option<(i64, C)>,
}

/// Maps one row. The mapper of a read is called once per row and may not keep state of
/// its own, so `head_wanted` (true to start with, one per read) tells the first row.
pub(crate) fn joined_row<H, C>(
    row: &dyn ReadRow,
    head_wanted: &AtomicBool,
    head: impl FnOnce(&dyn ReadRow) -> AppResult<H>,
    child: impl FnOnce(&dyn ReadRow) -> AppResult<Option<(i64, C)>>,
) -> AppResult<JoinedRow<H, C>> {
    let child = child(row)?;
    let head = if head_wanted.swap(false, Ordering::Relaxed) {
        Some(head(row)?)
    } else {
        None
    };
    Ok(JoinedRow { head, child })
}

/// The head and its children in id order; `None` when there were no rows.
pub(crate) fn assemble<H, C>(rows: Vec<JoinedRow<H, C>>) -> Option<(H, Vec<C>)> {
    let mut head = None;
    let mut children = Vec::with_capacity(rows.len());
    for row in rows {
        head = head.or(row.head);
        children.extend(row.child);
    }
    children.sort_unstable_by_key(|(id, _)| *id);
    Some((
        head?,
        children.into_iter().map(|(_, child)| child).collect(),
    ))
}
