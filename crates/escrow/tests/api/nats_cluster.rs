//! The outbox relay on a 3-node NATS JetStream cluster: `ESCROW_NATS_URL` lists the
//! servers, the stream keeps `ESCROW_NATS_REPLICAS` copies, and events keep reaching it,
//! each once, while a node is killed (SIGKILL) and after it restarts.

use crate::escrow_support::{spawn_custom, EscrowApp};
use crate::support::{free_port, Backend};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const NODES: usize = 3;
/// How long the cluster may take to elect its JetStream leader.
const FORMING_PATIENCE: Duration = Duration::from_secs(60);

/// A NATS JetStream cluster of the test's own on loopback; its stores removed on drop.
pub struct NatsCluster {
    client_ports: Vec<u16>,
    route_ports: Vec<u16>,
    stores: Vec<std::path::PathBuf>,
    nodes: Vec<Option<Child>>,
}

impl NatsCluster {
    pub async fn start() -> Self {
        let run = uuid::Uuid::new_v4();
        let mut cluster = Self {
            client_ports: (0..NODES).map(|_| free_port()).collect(),
            route_ports: (0..NODES).map(|_| free_port()).collect(),
            stores: (0..NODES)
                .map(|node| std::env::temp_dir().join(format!("escrow-nats-{run}-{node}")))
                .collect(),
            nodes: (0..NODES).map(|_| None).collect(),
        };
        for node in 0..NODES {
            cluster.start_node(node);
        }
        cluster.wait_until_formed().await;
        cluster
    }

    /// The servers, as `ESCROW_NATS_URL` lists them.
    pub fn url(&self) -> String {
        self.client_ports
            .iter()
            .map(|port| format!("nats://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn start_node(&mut self, node: usize) {
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .unwrap_or("nats-server");
        let routes = self
            .route_ports
            .iter()
            .map(|port| format!("nats://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        let child = Command::new(binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.client_ports[node].to_string(),
            ])
            .args(["--server_name", &format!("escrow-test-{node}")])
            .args(["--cluster_name", "escrow-test"])
            .args([
                "--cluster",
                &format!("nats://127.0.0.1:{}", self.route_ports[node]),
            ])
            .args(["--routes", &routes, "-js", "-sd"])
            .arg(&self.stores[node])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (see README)");
        self.nodes[node] = Some(child);
    }

    /// SIGKILLs `node`, as a crash would.
    pub fn kill(&mut self, node: usize) {
        if let Some(mut child) = self.nodes[node].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts `node` again on its own store, and waits until its copy of the service's
    /// stream has caught up: until then, losing another node would leave the stream without
    /// a majority of current copies.
    pub async fn restart(&mut self, node: usize) {
        self.start_node(node);
        self.wait_until_formed().await;
        self.wait_until_stream_is_whole().await;
    }

    /// Waits until the service's stream has a leader and every copy is current.
    pub async fn wait_until_stream_is_whole(&self) {
        let started = std::time::Instant::now();
        while !self.stream_is_whole().await {
            assert!(
                started.elapsed() < FORMING_PATIENCE,
                "the stream's copies did not catch up within {FORMING_PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Whether every server keeps a current copy of the service's stream.
    async fn stream_is_whole(&self) -> bool {
        let Ok(client) = async_nats::connect(escrow::events::servers(&self.url()).as_slice()).await
        else {
            return false;
        };
        let Ok(mut stream) = async_nats::jetstream::new(client)
            .get_stream(escrow::events::STREAM)
            .await
        else {
            return false;
        };
        let Ok(info) = stream.info().await else {
            return false;
        };
        info.cluster.as_ref().is_some_and(|cluster| {
            cluster.leader.is_some()
                && cluster.replicas.len() == NODES - 1
                && cluster
                    .replicas
                    .iter()
                    .all(|peer| peer.current && !peer.offline)
        })
    }

    /// Waits until JetStream answers through the cluster (its meta leader is elected).
    async fn wait_until_formed(&self) {
        let started = std::time::Instant::now();
        loop {
            if let Ok(client) =
                async_nats::connect(escrow::events::servers(&self.url()).as_slice()).await
            {
                // JetStream lists the streams once its meta leader is elected.
                let jetstream = async_nats::jetstream::new(client);
                let mut names = jetstream.stream_names();
                if !matches!(futures::StreamExt::next(&mut names).await, Some(Err(_))) {
                    return;
                }
            }
            assert!(
                started.elapsed() < FORMING_PATIENCE,
                "the NATS cluster did not form within {FORMING_PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How many servers keep the service's stream.
    pub async fn stream_replicas(&self) -> usize {
        let client = async_nats::connect(escrow::events::servers(&self.url()).as_slice())
            .await
            .unwrap();
        let mut stream = async_nats::jetstream::new(client)
            .get_stream(escrow::events::STREAM)
            .await
            .unwrap();
        stream.info().await.unwrap().config.num_replicas
    }
}

/// Every event in the service's stream, by its `Nats-Msg-Id`: how often each is there.
pub async fn events_by_id(nats_url: &str) -> HashMap<String, usize> {
    let client = async_nats::connect(escrow::events::servers(nats_url).as_slice())
        .await
        .unwrap();
    let mut stream = async_nats::jetstream::new(client)
        .get_stream(escrow::events::STREAM)
        .await
        .unwrap();
    let stored = stream.info().await.unwrap().state.messages;
    let mut seen = HashMap::new();
    for sequence in 1..=stored {
        let message = stream.get_raw_message(sequence).await.unwrap();
        let id = message
            .headers
            .get("Nats-Msg-Id")
            .map(|value| value.to_string())
            .unwrap_or_default();
        *seen.entry(id).or_insert(0) += 1;
    }
    seen
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in 0..NODES {
            self.kill(node);
            let _ = std::fs::remove_dir_all(&self.stores[node]);
        }
    }
}

/// How long a failover may hold events back: the client reconnects to another server and
/// the stream elects a new leader if it lost its own (about 10 s measured here).
const FAILOVER_PATIENCE: Duration = Duration::from_secs(45);

/// Waits until the outbox has no unpublished event, for at most `FAILOVER_PATIENCE`;
/// returns how many are left.
async fn drained(app: &crate::support::TestApp) -> i64 {
    let started = std::time::Instant::now();
    loop {
        let left = app.count("outbox_events WHERE published_at IS NULL").await;
        if left == 0 || started.elapsed() >= FAILOVER_PATIENCE {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn events_reach_a_nats_cluster_while_a_node_is_killed(backend: Backend) {
    let mut nats = NatsCluster::start().await;
    let app = spawn_custom(backend, |c| {
        c.nats_url = Some(nats.url());
        c.nats_replicas = 3;
        c.job_interval = Duration::from_millis(50);
    })
    .await;
    // The relay creates the stream; a new replicated stream elects its own leader, which a
    // loaded machine can take long enough to use up the first order's patience.
    nats.wait_until_stream_is_whole().await;
    let (buyer, seller) = (app.buyer().await, app.seller().await);
    app.paid_order(&buyer, &seller, 12_000, 1).await;
    assert_eq!(drained(&app).await, 0);
    assert_eq!(nats.stream_replicas().await, 3);

    nats.kill(0);
    app.paid_order(&buyer, &seller, 13_000, 1).await;
    assert_eq!(drained(&app).await, 0, "with a node dead");

    nats.restart(0).await;
    nats.kill(1);
    app.paid_order(&buyer, &seller, 14_000, 1).await;
    assert_eq!(drained(&app).await, 0, "with another dead");
    nats.restart(1).await;

    // Each event of the outbox reached the stream, and only once.
    let published = events_by_id(&nats.url()).await;
    let written = app.count("outbox_events").await;
    assert_eq!(published.len() as i64, written, "{published:?}");
    assert!(
        published.values().all(|&copies| copies == 1),
        "{published:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_events_reach_a_nats_cluster_while_a_node_is_killed() {
    events_reach_a_nats_cluster_while_a_node_is_killed(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_events_reach_a_nats_cluster_while_a_node_is_killed() {
    events_reach_a_nats_cluster_while_a_node_is_killed(Backend::MySql).await;
}
