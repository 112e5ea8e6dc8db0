//! The database goes away under load: the service answers 503 quickly (no hang, no panic),
//! `/readyz` says so, and it recovers by itself when the database is back. A TCP proxy
//! between the service and MariaDB does the cutting, so the shared server stays up.

use crate::support::{mysql_server_url, Answer, Backend, TestApp, TestDatabase};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy to MariaDB that can cut every connection and refuse new ones, or cut them
/// and leave new ones hanging (a server that accepts and never answers).
struct ChaosProxy {
    port: u16,
    cut: Arc<AtomicBool>,
    hang: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl ChaosProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let hang = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (cut, hang, links) = (cut.clone(), hang.clone(), links.clone());
            async move {
                let mut held = Vec::new();
                while let Ok((mut client, _)) = listener.accept().await {
                    if hang.load(Ordering::SeqCst) {
                        held.push(client);
                        continue;
                    }
                    if cut.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            }
        });
        Self {
            port,
            cut,
            hang,
            links,
            accept,
        }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn hang(&self) {
        self.hang.store(true, Ordering::SeqCst);
        self.cut();
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
        self.hang.store(false, Ordering::SeqCst);
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// A service on MariaDB through a [`ChaosProxy`], with a 1-s acquire timeout.
async fn behind_a_proxy(max_connections: Option<u32>) -> (ChaosProxy, TestApp) {
    let database = TestDatabase::create(Backend::MySql).await;
    let server = mysql_server_url();
    let host_port = server.rsplit('@').next().unwrap().to_string();
    let proxy = ChaosProxy::start(host_port.clone()).await;
    let mut config = escrow::config::Config::for_database(
        &database
            .url
            .replace(&host_port, &format!("127.0.0.1:{}", proxy.port)),
    );
    config.db_acquire_timeout = Duration::from_secs(1);
    if let Some(max) = max_connections {
        config.db_max_connections = max;
    }
    (proxy, TestApp::spawn_with(config, database).await)
}

/// Sends `count` catalogue reads at once (items and pages by turns) and waits for all.
async fn read_at_once(app: &TestApp, product: i64, count: usize) -> Vec<(Answer, Duration)> {
    let mut requests = Vec::new();
    for i in 0..count {
        let app_base = app.base.clone();
        let client = app.client.clone();
        let path = if i % 2 == 0 {
            format!("/products/{product}")
        } else {
            "/products".to_string()
        };
        requests.push(tokio::spawn(async move {
            let started = Instant::now();
            let response = client
                .get(format!("{app_base}{path}"))
                .send()
                .await
                .unwrap();
            (TestApp::answer(response).await, started.elapsed())
        }));
    }
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_a_503_and_heals_itself() {
    let (proxy, app) = behind_a_proxy(None).await;
    let seller = app.seller().await;
    let product = app.product(&seller, "정전 대비", 5_000, 3).await;
    app.get(&format!("/products/{product}"), None)
        .await
        .assert_status(200);

    proxy.cut();
    // Under load: every request gets an answer, a 503 problem, within a few seconds.
    for (answer, took) in read_at_once(&app, product, 20).await {
        answer.assert_problem(503, "service_unavailable");
        assert!(answer.headers.contains_key("retry-after"));
        assert!(
            took < Duration::from_secs(10),
            "a request hung for {took:?}"
        );
    }
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["database"], "unavailable");
    app.get("/healthz", None).await.assert_status(200);

    proxy.restore();
    // Connections idle for a second are pinged before use (crates/store/src/mysql/ping.rs), so the
    // ones the outage broke are replaced, not handed to a request: the first read (its own
    // pool, crates/store/src/mysql/batch.rs) and the first `/readyz` (the main pool) succeed.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    app.get(&format!("/products/{product}"), None)
        .await
        .assert_status(200);
    app.get("/readyz", None).await.assert_status(200);
    // And it writes again.
    app.product(&seller, "복구 후", 5_000, 1).await;
}

/// MySQL catalogue reads queue for a few statements in flight (crates/store/src/mysql/batch.rs).
/// With the database hanging, a read still waiting there after the acquire timeout fails as
/// a pool timeout would, instead of waiting its turn behind every batch before it: 100 reads
/// through one statement at a time (pool of 4) would otherwise take ~6 s, a batch of 16 per
/// 1-s timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_reads_give_up_after_the_acquire_timeout() {
    let (proxy, app) = behind_a_proxy(Some(4)).await;
    let seller = app.seller().await;
    let product = app.product(&seller, "대기열", 5_000, 3).await;
    proxy.hang();
    for (answer, took) in read_at_once(&app, product, 100).await {
        answer.assert_problem(503, "service_unavailable");
        assert!(
            took < Duration::from_millis(4_500),
            "a read waited {took:?} with a 1-s acquire timeout"
        );
    }
}
