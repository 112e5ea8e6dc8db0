//! The database goes away under load: the service answers 503 quickly (no hang, no panic),
//! `/readyz` says so, and it recovers by itself when the database is back. A TCP proxy
//! between the service and MariaDB does the cutting, so the shared server stays up.

use crate::support::{mysql_server_url, Backend, TestApp, TestDatabase};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy to MariaDB that can cut every connection and refuse new ones.
struct ChaosProxy {
    port: u16,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl ChaosProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (cut, links) = (cut.clone(), links.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
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

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_a_503_and_heals_itself() {
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
    let app = TestApp::spawn_with(config, database).await;
    let seller = app.seller().await;
    let product = app.product(&seller, "정전 대비", 5_000, 3).await;
    app.get(&format!("/products/{product}"), None)
        .await
        .assert_status(200);

    proxy.cut();
    // Under load: every request gets an answer, a 503 problem, within a few seconds.
    let mut requests = Vec::new();
    for i in 0..20 {
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
    for request in requests {
        let (answer, took) = request.await.unwrap();
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
    let mut healed = false;
    // Catalogue reads and the rest use separate pools (crates/store/src/reads.rs): both heal.
    for _ in 0..100 {
        let read = app.get(&format!("/products/{product}"), None).await.status;
        if read == 200 && app.get("/readyz", None).await.status == 200 {
            healed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        healed,
        "the service did not recover after the database came back"
    );
    // And it writes again.
    app.product(&seller, "복구 후", 5_000, 1).await;
}
