//! The local Galera + HAProxy + NATS cluster of scripts/cluster.sh, for the cluster chaos
//! test: started on ports and in a directory of its own, stopped (and wiped) on drop.

use crate::nats_cluster::events_by_id;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where the test's cluster listens (HAProxy; the nodes on ports above it), clear of a
/// cluster started by hand on the script's default.
fn base_port() -> String {
    std::env::var("ESCROW_TEST_CLUSTER_PORT").unwrap_or_else(|_| "23300".into())
}

/// `scripts/cluster.sh` with this test's directory and ports.
#[derive(Debug, Clone)]
pub struct ClusterScript {
    dir: PathBuf,
    port: String,
}

impl ClusterScript {
    fn command(&self, args: &[&str]) -> std::process::Command {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/cluster.sh");
        let mut command = std::process::Command::new("bash");
        command
            .arg(script)
            .args(args)
            .env("ESCROW_CLUSTER_DIR", &self.dir)
            .env("ESCROW_CLUSTER_PORT", &self.port);
        command
    }

    fn run_now(&self, args: &[&str]) -> String {
        let output = self.command(args).output().unwrap();
        assert!(
            output.status.success(),
            "scripts/cluster.sh {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs the script without holding up the test's other tasks.
    pub async fn run(&self, args: &[&str]) -> String {
        let (script, args): (Self, Vec<String>) =
            (self.clone(), args.iter().map(|a| a.to_string()).collect());
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            script.run_now(&args)
        })
        .await
        .unwrap()
    }
}

/// A running cluster.
pub struct LocalCluster {
    script: ClusterScript,
    settings: HashMap<String, String>,
}

/// A database of the test's own on the cluster: one URL per node.
pub struct ClusterDatabase {
    pub urls: Vec<String>,
}

impl LocalCluster {
    /// Starts a fresh cluster; panics (the test fails) when it cannot.
    pub fn start() -> Self {
        let script = ClusterScript {
            dir: std::env::temp_dir().join(format!("escrow-cluster-{}", uuid::Uuid::new_v4())),
            port: base_port(),
        };
        // Made first, so that a start that fails half-way is stopped too (on drop): a node
        // left running would hold the ports of the next run's cluster.
        let mut cluster = Self {
            script,
            settings: HashMap::new(),
        };
        cluster.script.run_now(&["start"]);
        cluster.settings = cluster
            .script
            .run_now(&["env"])
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        cluster
    }

    pub fn script(&self) -> ClusterScript {
        self.script.clone()
    }

    fn setting(&self, name: &str) -> &str {
        self.settings
            .get(name)
            .unwrap_or_else(|| panic!("scripts/cluster.sh env names no {name}"))
    }

    pub fn nats_url(&self) -> String {
        self.setting("ESCROW_NATS_URL").to_string()
    }

    /// A fresh database, made through the first node (Galera replicates the DDL).
    pub async fn create_database(&self) -> ClusterDatabase {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let name = format!("escrow_chaos_{}", uuid::Uuid::new_v4().simple());
        let servers: Vec<&str> = self
            .setting("ESCROW_CLUSTER_NODE_URLS")
            .split(',')
            .collect();
        let mut conn = sqlx::AnyConnection::connect(servers[0]).await.unwrap();
        sqlx::query(&format!(
            "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        ClusterDatabase {
            urls: servers
                .iter()
                .map(|server| format!("{server}/{name}"))
                .collect(),
        }
    }

    /// Every event of the outbox was published (waits for the relays to catch up) and is in
    /// the stream exactly once.
    pub async fn assert_each_event_published_once(&self, db: &mut sqlx::AnyConnection) {
        let started = std::time::Instant::now();
        while count(
            db,
            "SELECT COUNT(*) AS n FROM outbox_events WHERE published_at IS NULL",
        )
        .await
            > 0
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the outbox never drained"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let written = count(db, "SELECT COUNT(*) AS n FROM outbox_events").await;
        let published = events_by_id(&self.nats_url()).await;
        let copies_of_one: Vec<_> = published.iter().filter(|(_, &n)| n != 1).collect();
        assert!(
            copies_of_one.is_empty(),
            "published twice: {copies_of_one:?}"
        );
        assert_eq!(
            published.len() as i64,
            written,
            "events in the stream vs the outbox"
        );
        eprintln!("cluster: {written} events, each in JetStream once");
    }
}

/// `SELECT COUNT(*) AS n ...`, read on `db`.
pub(crate) async fn count(db: &mut sqlx::AnyConnection, sql: &str) -> i64 {
    use sqlx::Row as _;
    sqlx::query(sql)
        .fetch_one(db)
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = self.script.command(&["stop"]).output();
    }
}
