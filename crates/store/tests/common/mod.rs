//! A fresh database per test, on a real SQLite file or a real MariaDB server.

// Each test binary uses its own part of this module; a test fails loudly where its setup does.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use escrow_store::{Db, DbConfig};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

/// The server the MariaDB tests create their databases on.
pub fn mysql_server_url() -> String {
    std::env::var("ESCROW_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A fresh, empty database; dropped (or deleted) when the test ends.
pub struct TestDatabase {
    pub url: String,
    backend: Backend,
    name: String,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "escrow_store_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
        );
        let url = match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                format!("sqlite://{}", path.display())
            }
            Backend::MySql => {
                use escrow_store::sqlx::Connection;
                escrow_store::sqlx::any::install_default_drivers();
                let mut conn = escrow_store::sqlx::AnyConnection::connect(&mysql_server_url())
                    .await
                    .expect("MariaDB must be running for the MySQL tests (see README)");
                escrow_store::sqlx::query(&format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                ))
                .execute(&mut conn)
                .await
                .unwrap();
                format!("{}/{name}", mysql_server_url())
            }
        };
        Self { url, backend, name }
    }

    /// The database's file (SQLite).
    pub fn sqlite_path(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(self.url.trim_start_matches("sqlite://"))
    }

    /// The service's handle on it, with the table `create` makes.
    pub async fn connect_with(&self, create: &str) -> Db {
        let db = Db::connect(&DbConfig::new(self.url.clone())).await.unwrap();
        db.write(create, &[]).await.unwrap();
        db
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match self.backend {
            Backend::Sqlite => {
                let path = self.sqlite_path().display().to_string();
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{path}{suffix}"));
                }
            }
            Backend::MySql => {
                let name = self.name.clone();
                // Drop runs outside async: a short-lived runtime of its own does the DROP.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(runtime) = runtime {
                        runtime.block_on(async move {
                            use escrow_store::sqlx::Connection;
                            if let Ok(mut conn) =
                                escrow_store::sqlx::AnyConnection::connect(&mysql_server_url())
                                    .await
                            {
                                let _ = escrow_store::sqlx::query(&format!(
                                    "DROP DATABASE IF EXISTS {name}"
                                ))
                                .execute(&mut conn)
                                .await;
                            }
                        });
                    }
                })
                .join();
            }
        }
    }
}
