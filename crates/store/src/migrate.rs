//! One set of migrations for both backends. The files under `migrations/` are plain SQL
//! that both SQLite and MySQL accept, except for two tokens replaced per dialect:
//! `{{PK}}` (an auto-increment 64-bit primary key) and `{{TABLE}}` (MySQL table options).

use crate::db::Db;
use crate::dialect::Dialect;
use crate::error::StoreError;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;

/// (version, description, sql), in order; embedded so the binary needs no files at run time.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "members and products",
        include_str!("../../../migrations/0001_members_products.sql"),
    ),
    (
        2,
        "escrow lifecycle",
        include_str!("../../../migrations/0002_escrow.sql"),
    ),
    (
        3,
        "money core",
        include_str!("../../../migrations/0003_money_core.sql"),
    ),
    (
        4,
        "hardening",
        include_str!("../../../migrations/0004_hardening.sql"),
    ),
    (
        5,
        "outgoing webhooks",
        include_str!("../../../migrations/0005_webhooks.sql"),
    ),
    (
        6,
        "virtual accounts",
        include_str!("../../../migrations/0006_vbank.sql"),
    ),
    (
        7,
        "settlements and payouts",
        include_str!("../../../migrations/0007_settlements_payouts.sql"),
    ),
];

fn render(sql: &str, dialect: Dialect) -> String {
    let (pk, table) = match dialect {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", ""),
        Dialect::MySql => (
            "BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT",
            "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        ),
    };
    sql.replace("{{PK}}", pk).replace("{{TABLE}}", table)
}

impl Db {
    /// Applies every migration not applied yet. Safe to run from several instances at
    /// once: an advisory lock on MySQL/MariaDB, and SQLite serialises writers.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrations: Vec<Migration> = MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    Cow::Owned(render(sql, self.dialect())),
                    false,
                )
            })
            .collect();
        let migrator = Migrator {
            migrations: Cow::Owned(migrations),
            ..Migrator::DEFAULT
        };
        let mut conn = self.pool().lease().await?;
        if self.dialect() == Dialect::MySql {
            // sqlx's own lock asks for GET_LOCK(name, -1), which MariaDB answers with NULL at
            // once instead of waiting: instances starting together then both applied
            // migration 1. Take the lock ourselves, with a real timeout, and check we got it.
            let got: Option<i64> =
                sqlx::query_scalar("SELECT GET_LOCK(CONCAT('escrow_migrate_', DATABASE()), 300)")
                    .fetch_one(&mut *conn)
                    .await?;
            if got != Some(1) {
                return Err(StoreError::Migrate(sqlx::migrate::MigrateError::Execute(
                    sqlx::Error::Protocol("could not take the migration lock".into()),
                )));
            }
        }
        let applied = migrator.run(&mut *conn).await;
        if self.dialect() == Dialect::MySql {
            let _ = sqlx::query("SELECT RELEASE_LOCK(CONCAT('escrow_migrate_', DATABASE()))")
                .execute(&mut *conn)
                .await;
        }
        applied?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_is_replaced() {
        for dialect in [Dialect::Sqlite, Dialect::MySql] {
            for (_, _, sql) in MIGRATIONS {
                let rendered = render(sql, dialect);
                assert!(!rendered.contains("{{"), "{rendered}");
            }
        }
    }
}
