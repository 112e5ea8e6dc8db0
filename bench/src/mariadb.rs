//! A private MariaDB server for the run, started from a configuration file of the project
//! (`deploy/mariadb.cnf`), so that the MariaDB half measures the server as it is meant to
//! be set up rather than whatever the machine's server happens to be.

use anyhow::{bail, Context, Result};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PrivateMariaDb {
    child: Child,
    dir: PathBuf,
    pub url: String,
}

impl PrivateMariaDb {
    /// A fresh data directory under the temporary directory (on the machine's disk, as a
    /// server's would be: its syncs are part of what is measured) and a server on a free
    /// port of 127.0.0.1, ready to take connections.
    pub async fn start(config: &Path) -> Result<Self> {
        let config = config
            .canonicalize()
            .with_context(|| format!("MariaDB configuration {}", config.display()))?;
        let dir = std::env::temp_dir().join(format!("escrow-bench-mariadb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        // mariadbd refuses to run as root unless told to.
        let as_root = std::fs::metadata("/proc/self")?.uid() == 0;
        let user = as_root.then_some("--user=root");
        let installed = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(user)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running mariadb-install-db (Debian's mariadb-server)")?;
        if !installed.success() {
            bail!("mariadb-install-db failed ({installed})");
        }
        let port = crate::service::free_port()?;
        let child = Command::new(mariadbd())
            // Must come first.
            .arg(format!("--defaults-file={}", config.display()))
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", dir.join("mariadb.sock").display()))
            .arg(format!("--pid-file={}", dir.join("mariadb.pid").display()))
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .args(user)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting mariadbd")?;
        let mut server = Self {
            child,
            dir,
            url: format!("mysql://root@127.0.0.1:{port}"),
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        use sqlx::Connection;
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(conn) = sqlx::MySqlConnection::connect(&self.url).await {
                let _ = conn.close().await;
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "mariadbd exited ({status}); see {}",
                    self.dir.join("error.log").display()
                );
            }
            if Instant::now() > until {
                bail!("mariadbd did not take connections within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// What the MariaDB server at `url` is and how it is set where it matters here, for the
/// report: a run's figures depend on it.
pub async fn describe(url: &str) -> Result<String> {
    use sqlx::Connection;
    let mut conn = sqlx::MySqlConnection::connect(url)
        .await
        .with_context(|| format!("connecting to MariaDB at {url}"))?;
    let described: String = sqlx::query_scalar(
        "SELECT CONCAT(VERSION(), ', thread_handling ', @@thread_handling, \
         ', buffer pool ', @@innodb_buffer_pool_size DIV 1048576, ' MiB', \
         ', innodb_flush_log_at_trx_commit ', @@innodb_flush_log_at_trx_commit, \
         ', binary log ', IF(@@log_bin, 'on', 'off'))",
    )
    .fetch_one(&mut conn)
    .await?;
    let _ = conn.close().await;
    Ok(described)
}

/// The server binary: on the `PATH`, or where Debian installs it (`/usr/sbin`, which a
/// non-root user's `PATH` leaves out).
fn mariadbd() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("mariadbd"))
        .find(|bin| bin.is_file())
        .unwrap_or_else(|| PathBuf::from("mariadbd"))
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
