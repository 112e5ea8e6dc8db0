//! Serve the sandbox alone for manual or browser checks:
//! `cargo run -p portone-sandbox --example serve -- 127.0.0.1:9100`.

use portone_sandbox::{Sandbox, SandboxConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9100".into());
    let sandbox = Sandbox::new(SandboxConfig::default());
    let app = axum::Router::new().nest("/sandbox/portone", sandbox.router());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("sandbox at http://{addr}/sandbox/portone");
    axum::serve(listener, app).await
}
