//! The one application state, built once by the composition root.

use escrow_core::gateway::Gateway;
use escrow_core::members::Members;
use escrow_core::orders::Orders;
use escrow_core::payments::Payments;
use escrow_core::products::Products;
use escrow_core::webhooks::Webhooks;
use escrow_core::Db;
use std::path::PathBuf;
use std::sync::Arc;

/// What the browser needs to start a checkout with the gateway's SDK.
#[derive(Debug, Clone)]
pub struct BrowserConfig {
    /// The merchant code for `IMP.init`.
    pub imp_code: String,
    /// Where the page loads `iamport.js` from: the sandbox's or the real CDN's.
    pub iamport_js: String,
    /// The built web UI (`web/dist`), served at `/app/` when it exists.
    pub web_dir: PathBuf,
    /// PortOne V2's checkout (`PortOne.requestPayment`), when the service speaks V2.
    pub v2: Option<BrowserV2>,
}

/// What the browser needs for PortOne V2's checkout.
#[derive(Debug, Clone)]
pub struct BrowserV2 {
    pub store_id: String,
    pub channel_key: String,
    /// Where the page loads `browser-sdk.js` from: the sandbox's or PortOne's CDN.
    pub browser_sdk: String,
}

impl BrowserConfig {
    /// The address of the SDK the page loads.
    pub fn sdk(&self) -> &str {
        self.v2
            .as_ref()
            .map_or(&self.iamport_js, |v2| &v2.browser_sdk)
    }
}

/// Which addresses may post gateway webhooks; empty: any (webhooks are verified with the
/// gateway anyway, so this is defence in depth, e.g. PortOne's documented senders).
#[derive(Debug, Clone, Default)]
pub struct WebhookSources(pub Vec<ipnet::IpNet>);

impl WebhookSources {
    /// An IPv4 sender reaches a dual-stack (`[::]`) listener as `::ffff:a.b.c.d`: it is
    /// compared as the IPv4 address it is.
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.0.is_empty()
            || self
                .0
                .iter()
                .any(|net| net.contains(&canonical) || net.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv4_senders_match_ipv4_ranges() {
        let parse =
            |nets: &[&str]| WebhookSources(nets.iter().filter_map(|n| n.parse().ok()).collect());
        let v4 = parse(&["52.78.100.19/32", "10.0.0.0/8"]);
        let v6 = parse(&["2001:db8::/32", "::ffff:192.0.2.0/120"]);
        for (sources, ip, allowed) in [
            (&v4, "52.78.100.19", true),
            (&v4, "::ffff:52.78.100.19", true),
            (&v4, "::ffff:10.1.2.3", true),
            (&v4, "::ffff:52.78.100.20", false),
            (&v4, "::52.78.100.19", false),
            (&v4, "2001:db8::1", false),
            (&v6, "2001:db8::1", true),
            (&v6, "::ffff:192.0.2.7", true),
            (&v6, "52.78.100.19", false),
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
            assert_eq!(sources.allows(ip), allowed, "{ip}");
        }
    }
}

/// Cloned for every request by each layer and handler that takes it, so it is one `Arc`:
/// one atomic increment per clone instead of one per service (BENCHMARKS.md).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub db: Db,
    pub members: Members,
    pub products: Products,
    pub orders: Orders,
    pub payments: Payments,
    pub gateway: Arc<dyn Gateway>,
    /// Verifies PortOne V2's webhooks (`PORTONE_WEBHOOK_SECRET`); none: they are refused.
    pub gateway_webhook_secret: Option<String>,
    pub browser: BrowserConfig,
    pub webhook_sources: WebhookSources,
    pub webhooks: Webhooks,
}

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}
