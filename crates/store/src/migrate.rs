//! One set of migrations for both backends. The files under `migrations/` are plain SQL
//! that both SQLite and MySQL accept, except for three tokens replaced per dialect:
//! `{{PK}}` (an auto-increment 64-bit primary key), `{{TABLE}}` (MySQL table options) and
//! `{{ON table}}` (`DROP INDEX`'s table, which MySQL requires and SQLite refuses).

use crate::db::Db;
use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::migration_lock::MigrationLock;
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
    (
        8,
        "returns and exchanges",
        include_str!("../../../migrations/0008_returns.sql"),
    ),
    (
        10,
        "flat costs",
        include_str!("../../../migrations/0010_flat_costs.sql"),
    ),
    (
        11,
        "unused index",
        include_str!("../../../migrations/0011_unused_index.sql"),
    ),
    (
        12,
        "indexes steps leave alone",
        include_str!("../../../migrations/0012_indexes_steps_leave_alone.sql"),
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
    let sql = sql.replace("{{PK}}", pk).replace("{{TABLE}}", table);
    let mut rendered = String::with_capacity(sql.len());
    let mut rest = sql.as_str();
    while let Some((before, token)) = rest.split_once("{{ON ") {
        let Some((table, after)) = token.split_once("}}") else {
            break;
        };
        rendered.push_str(before);
        if dialect == Dialect::MySql {
            rendered.push_str("ON ");
            rendered.push_str(table);
        }
        rest = after;
    }
    rendered.push_str(rest);
    rendered
}

impl Db {
    /// Applies every migration not applied yet. Safe to run from several instances at
    /// once, also against different nodes of a Galera cluster: one run at a time holds the
    /// lock row of `escrow_migration_lock`.
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
        // Our own lock, not sqlx's `GET_LOCK`, which locks one node of a cluster only.
        let migrator = Migrator {
            migrations: Cow::Owned(migrations),
            locking: false,
            ..Migrator::DEFAULT
        };
        let mut conn = self.pool().lease().await?;
        // A restart finds everything applied: it needs no lock, which a run killed mid-way
        // would hold until its lease ends.
        if all_applied(&mut conn, &migrator.migrations).await {
            return Ok(());
        }
        let lock = MigrationLock::claim(&mut conn, self.dialect()).await?;
        let applied = migrator.run(&mut *conn).await;
        let released = lock.release(&mut conn).await;
        applied?;
        released
    }
}

/// Whether every migration here is recorded as applied, unchanged (no table yet: not). Any
/// other answer leaves the checking to the migrator.
async fn all_applied(conn: &mut sqlx::AnyConnection, migrations: &[Migration]) -> bool {
    let applied = sqlx::query_as::<_, (i64, Vec<u8>)>(
        "SELECT version, checksum FROM _sqlx_migrations WHERE success = 1",
    )
    .fetch_all(&mut *conn)
    .await;
    match applied {
        Ok(rows) => migrations.iter().all(|m| {
            rows.iter()
                .any(|(version, checksum)| *version == m.version && **checksum == *m.checksum)
        }),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_index_names_its_table_on_mysql_only() {
        let sql = "DROP INDEX a {{ON t}};\nDROP INDEX b {{ON u}};";
        assert_eq!(
            render(sql, Dialect::Sqlite),
            "DROP INDEX a ;\nDROP INDEX b ;"
        );
        assert_eq!(
            render(sql, Dialect::MySql),
            "DROP INDEX a ON t;\nDROP INDEX b ON u;"
        );
    }

    #[test]
    fn every_file_in_migrations_is_applied_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("the migrations folder")
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let versions: Vec<i64> = files
            .iter()
            .filter_map(|name| name.split('_').next()?.parse().ok())
            .collect();
        let listed: Vec<i64> = MIGRATIONS.iter().map(|(version, _, _)| *version).collect();
        assert_eq!(listed, versions, "MIGRATIONS against {files:?}");
    }

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
