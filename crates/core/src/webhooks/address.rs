//! Which URLs an endpoint may have: a webhook URL must not become a way to reach the
//! service's own network (SSRF). Used when an endpoint is registered and again, through the
//! sender's resolver, on every connection (a name may resolve elsewhere later).

use crate::error::{AppError, AppResult};
use std::net::IpAddr;

/// The rules in force.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    /// Only `https://` (production).
    pub https_only: bool,
    /// Loopback, private, link-local addresses and the service's own host are accepted.
    pub private_allowed: bool,
    /// Host names of this service (its public URL's), refused unless `private_allowed`.
    pub own_hosts: Vec<String>,
}

/// The longest URL accepted.
const MAX_URL_LEN: usize = 2000;

impl UrlPolicy {
    /// Checks `text` and every address its host resolves to now; returns the URL as stored.
    pub async fn check(&self, text: &str) -> AppResult<String> {
        let refuse = |message: &str| AppError::field("url", message);
        let text = text.trim();
        if text.len() > MAX_URL_LEN {
            return Err(refuse("must be at most 2000 characters"));
        }
        let url = url::Url::parse(text).map_err(|_| refuse("must be an absolute URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if !self.https_only => {}
            _ if self.https_only => return Err(refuse("must be an https:// URL")),
            _ => return Err(refuse("must be an http:// or https:// URL")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("must not carry credentials"));
        }
        let host = url.host_str().ok_or_else(|| refuse("must name a host"))?;
        if self.private_allowed {
            return Ok(url.to_string());
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if self
            .own_hosts
            .iter()
            .any(|own| own.eq_ignore_ascii_case(bare))
        {
            return Err(refuse("must not point at this service"));
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<IpAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|_| refuse("names a host that does not resolve"))?
                .map(|addr| addr.ip())
                .collect(),
        };
        if addresses.is_empty() || !addresses.iter().all(|ip| is_public(*ip)) {
            return Err(refuse(
                "must not point at a loopback, private or link-local address",
            ));
        }
        Ok(url.to_string())
    }
}

/// Whether `ip` is an ordinary Internet address: not loopback, private, link-local,
/// shared (carrier-grade NAT), unspecified, broadcast, multicast or documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses() {
        let cases = [
            ("8.8.8.8", true),
            ("52.78.100.19", true),
            ("127.0.0.1", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("172.32.0.1", true),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("0.0.0.0", false),
            ("255.255.255.255", false),
            ("::1", false),
            ("::", false),
            ("fe80::1", false),
            ("fd00::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:8.8.8.8", true),
            ("2001:4860:4860::8888", true),
        ];
        for (ip, public) in cases {
            assert_eq!(is_public(ip.parse().expect("an address")), public, "{ip}");
        }
    }

    #[tokio::test]
    async fn urls_by_policy() {
        let production = UrlPolicy {
            https_only: true,
            private_allowed: false,
            own_hosts: vec!["shop.example.com".into()],
        };
        let allowed = UrlPolicy {
            private_allowed: true,
            ..production.clone()
        };
        let development = UrlPolicy {
            https_only: false,
            private_allowed: true,
            own_hosts: Vec::new(),
        };
        let cases: [(&UrlPolicy, &str, bool); 12] = [
            (&production, "https://8.8.8.8/hook", true),
            (&production, "http://8.8.8.8/hook", false),
            (&production, "https://10.0.0.5/hook", false),
            (&production, "https://[::1]/hook", false),
            (&production, "https://169.254.169.254/latest", false),
            (&production, "https://localhost/hook", false),
            (&production, "https://shop.example.com/hook", false),
            (&production, "https://user:pw@8.8.8.8/hook", false),
            (&production, "ftp://8.8.8.8/x", false),
            (&allowed, "https://10.0.0.5/hook", true),
            (&development, "http://127.0.0.1:9/hook", true),
            (&development, "not a url", false),
        ];
        for (policy, url, ok) in cases {
            assert_eq!(
                policy.check(url).await.is_ok(),
                ok,
                "{url} under {policy:?}"
            );
        }
    }
}
