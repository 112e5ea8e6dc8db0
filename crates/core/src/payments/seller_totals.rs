//! What each seller's settlement lines add up to, for the overdue check: a checkpoint (the
//! sellers' totals over every line up to an id, in `settlement_totals`, the id in the sweep
//! mark `settlement_totals`) plus the lines after it. A check then reads the lines since the
//! last one, not every line ever released; lines are never changed once written.

use super::Payments;
use crate::error::{AppError, AppResult};
use escrow_store::{now_millis, params, DbErrorKind, ReadRow};
use std::collections::BTreeMap;

const TOTALS_MARK: &str = "settlement_totals";
/// Lines younger than this are not counted into the checkpoint yet: a transaction that took
/// a lower id may still be open (requests end within 30 s).
const SETTLE_MS: i64 = 5 * 60 * 1000;

impl Payments {
    /// Each seller's net over all their settlement lines (chargebacks negative); moves the
    /// checkpoint on over the lines old enough.
    pub(super) async fn seller_nets(&self) -> AppResult<BTreeMap<i64, i64>> {
        // One statement: the mark and the totals of one snapshot.
        let checkpoint = self
            .db
            .reads()
            .fetch_all(
                "SELECT m.at, t.seller_id, t.net_amount FROM sweep_marks m \
                 LEFT JOIN settlement_totals t ON 1 = 1 WHERE m.name = ?",
                params![TOTALS_MARK],
                |row| {
                    Ok::<_, AppError>((
                        row.int("at")?,
                        row.opt_int("seller_id")?,
                        row.opt_int("net_amount")?,
                    ))
                },
            )
            .await?;
        let through = checkpoint.first().map(|(at, _, _)| *at);
        let mut nets: BTreeMap<i64, i64> = checkpoint
            .iter()
            .filter_map(|(_, seller, net)| Some((seller.as_ref().copied()?, net.unwrap_or(0))))
            .collect();
        // Summed here, not by a GROUP BY, which SQLite answers by walking an index of
        // (seller_id, id) through every line.
        let lines = self
            .db
            .reads()
            .fetch_all(
                "SELECT id, seller_id, net_amount, released_at FROM settlements WHERE id > ? \
                 ORDER BY id",
                params![through.unwrap_or(0)],
                |row: &dyn ReadRow| {
                    Ok::<_, AppError>((
                        row.int("id")?,
                        row.int("seller_id")?,
                        row.int("net_amount")?,
                        row.int("released_at")?,
                    ))
                },
            )
            .await?;
        let old_enough = now_millis() - SETTLE_MS;
        let next = lines
            .iter()
            .filter(|(_, _, _, released_at)| *released_at <= old_enough)
            .map(|(id, ..)| *id)
            .max();
        let mut counted: BTreeMap<i64, i64> = BTreeMap::new();
        for (id, seller, net, _) in &lines {
            *nets.entry(*seller).or_default() += net;
            if next.is_some_and(|next| *id <= next) {
                *counted.entry(*seller).or_default() += net;
            }
        }
        if let Some(next) = next {
            // Another instance moving it at the same time wins; this one's totals are right
            // either way.
            if let Err(err) = self.advance_totals(through, next, &counted).await {
                tracing::warn!(error = %err, "moving the settlement totals on failed");
            }
        }
        Ok(nets)
    }

    /// Adds `counted` (the lines after `through` up to `next`) to the totals and moves the
    /// mark to `next`, only if it is still at `through`.
    async fn advance_totals(
        &self,
        through: Option<i64>,
        next: i64,
        counted: &BTreeMap<i64, i64>,
    ) -> AppResult<()> {
        let mut tx = self.db.begin().await?;
        let moved = match through {
            Some(at) => {
                tx.execute(
                    "UPDATE sweep_marks SET at = ? WHERE name = ? AND at = ?",
                    params![next, TOTALS_MARK, at],
                )
                .await?
            }
            None => match tx
                .execute(
                    "INSERT INTO sweep_marks (name, at) VALUES (?, ?)",
                    params![TOTALS_MARK, next],
                )
                .await
            {
                Err(err) if err.kind() == DbErrorKind::UniqueViolation => 0,
                other => other?,
            },
        };
        if moved == 0 {
            return Ok(());
        }
        for (seller, net) in counted {
            let added = tx
                .execute(
                    "UPDATE settlement_totals SET net_amount = net_amount + ? WHERE seller_id = ?",
                    params![*net, *seller],
                )
                .await?;
            if added == 0 {
                tx.execute(
                    "INSERT INTO settlement_totals (seller_id, net_amount) VALUES (?, ?)",
                    params![*seller, *net],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
