//! Where webhooks may go: http(s) URLs whose host does not resolve to loopback, private,
//! link-local or other internal addresses (unless the installation allows it), checked when a
//! subscription is saved and again on every connection, so a DNS change cannot redirect deliveries
//! inside the network.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Whether `ip` is an address webhooks must not reach by default.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || first == 0x0064 && v6.segments()[1] == 0xff9b // NAT64 to IPv4
        }
    }
}

/// Checks a subscription URL: absolute http(s) without credentials, and, unless `allow_internal`,
/// a host that resolves only to public addresses. The error says what is wrong.
pub async fn check_url(raw: &str, allow_internal: bool) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the URL must use http or https".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not contain credentials; use the signing secret to authenticate".to_owned());
    }
    if url.as_str().len() > 2048 {
        return Err("the URL must be at most 2048 characters".to_owned());
    }
    let host = url.host().ok_or("the URL must have a host")?;
    if allow_internal {
        return Ok(url);
    }
    let addresses: Vec<IpAddr> = match host {
        Host::Ipv4(ip) => vec![IpAddr::V4(ip)],
        Host::Ipv6(ip) => vec![IpAddr::V6(ip)],
        Host::Domain(name) => {
            let port = url.port_or_known_default().unwrap_or(443);
            let lookup = tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((name, port)));
            match lookup.await {
                Ok(Ok(found)) => found.map(|addr| addr.ip()).collect(),
                Ok(Err(e)) => return Err(format!("the host `{name}` does not resolve: {e}")),
                Err(_) => return Err(format!("resolving the host `{name}` timed out")),
            }
        }
    };
    match addresses.iter().find(|ip| is_internal(**ip)) {
        Some(ip) => Err(format!(
            "the URL resolves to the internal address {ip}; webhooks go to public addresses only \
             (PARLEY_WEBHOOK_ALLOW_PRIVATE=true allows internal targets)"
        )),
        None => Ok(url),
    }
}

/// Whether a URL's host is a literal internal IP address (these bypass name resolution).
pub fn is_internal_literal(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => is_internal(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_internal(IpAddr::V6(ip)),
        _ => false,
    }
}

/// A resolver that drops internal addresses, so a connection can only reach public ones.
#[derive(Debug, Clone, Copy)]
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|addr| !is_internal(addr.ip())).collect();
            if public.is_empty() {
                let message = format!("{host} resolves only to internal addresses");
                return Err(Box::new(std::io::Error::new(std::io::ErrorKind::PermissionDenied, message)) as _);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client deliveries use: no redirects (a redirect could lead anywhere), `timeout` per
/// attempt, and internal addresses refused unless `allow_internal`.
pub fn http_client(timeout: Duration, allow_internal: bool) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("Parley-Webhooks/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(8);
    if !allow_internal {
        builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip} should be internal");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "172.32.0.1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip} should be public");
        }
    }

    #[tokio::test]
    async fn urls_are_checked() {
        assert!(check_url("ftp://example.com/", true).await.unwrap_err().contains("http"));
        assert!(check_url("https://user:pw@example.com/", true).await.unwrap_err().contains("credentials"));
        assert!(check_url("not a url", true).await.is_err());
        assert!(check_url("http://127.0.0.1:9/hook", false).await.unwrap_err().contains("internal address 127.0.0.1"));
        assert!(check_url("http://[::1]/hook", false).await.unwrap_err().contains("internal"));
        assert!(check_url("http://localhost:9/hook", false).await.unwrap_err().contains("internal"));
        assert!(check_url("http://127.0.0.1:9/hook", true).await.is_ok());
    }

    #[tokio::test]
    async fn connections_to_internal_names_are_refused() {
        let client = http_client(Duration::from_secs(2), false).unwrap();
        let error = client.post("http://localhost:9/hook").send().await.unwrap_err();
        let chain = crate::error::chain(&error);
        assert!(chain.contains("internal addresses"), "{chain}");
    }
}
