//! Where webhooks may go: http(s) URLs whose host does not resolve to loopback, private,
//! link-local or other internal addresses (unless the installation allows it), checked when a
//! subscription is saved and again on every connection, so a DNS change cannot redirect deliveries
//! inside the network.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Whether `ip` is an address webhooks must not reach by default: anything not globally
/// reachable. IPv6 is allowed only in global unicast (`2000::/3`), and not in the ranges there that
/// are special or embed an IPv4 address (IETF protocol assignments with Teredo, benchmarking and
/// ORCHID, documentation, 6to4); everything outside it (IPv4-compatible and IPv4-translated
/// embeddings, NAT64, discard, unique local, link-local, site-local, multicast…) is refused, and an
/// IPv4-mapped address is judged as the IPv4 address it maps.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let [first, second, ..] = v6.segments();
            (first & 0xe000) != 0x2000 // outside global unicast
                || (first == 0x2001 && second < 0x0200) // 2001::/23: Teredo, benchmarking, ORCHID…
                || (first == 0x2001 && second == 0x0db8) // documentation
                || first == 0x2002 // 6to4
                || (first == 0x3fff && second < 0x1000) // documentation (3fff::/20)
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

    /// Addresses webhooks must not reach, with what they are.
    pub const INTERNAL: &[(&str, &str)] = &[
        ("127.0.0.1", "IPv4 loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("192.0.0.8", "IETF protocol assignments"),
        ("192.88.99.1", "6to4 relay anycast"),
        ("198.18.0.1", "benchmarking"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("224.0.0.1", "multicast"),
        ("::", "IPv6 unspecified"),
        ("::1", "IPv6 loopback"),
        ("::127.0.0.1", "IPv4-compatible loopback"),
        ("::a9fe:a9fe", "IPv4-compatible link-local"),
        ("::8.8.8.8", "IPv4-compatible (deprecated, never global)"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:10.0.0.1", "IPv4-mapped private"),
        ("::ffff:0:7f00:1", "IPv4-translated loopback"),
        ("::ffff:0:808:808", "IPv4-translated"),
        ("64:ff9b::7f00:1", "NAT64 of loopback"),
        ("64:ff9b:1::1", "local-use NAT64"),
        ("100::1", "discard"),
        ("2001::1", "Teredo"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("2001:2::1", "benchmarking"),
        ("2001:10::1", "ORCHID"),
        ("2001:20::1", "ORCHIDv2"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation (3fff::/20)"),
        ("2002:7f00:1::", "6to4 of loopback"),
        ("2002:a00:1::1", "6to4 of a private address"),
        ("2002:808:808::1", "6to4"),
        ("fc00::1", "unique local"),
        ("fd12:3456::1", "unique local"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("5f00::1", "SRv6 SIDs"),
    ];

    /// Public addresses, which are allowed.
    pub const PUBLIC: &[&str] = &[
        "8.8.8.8",
        "1.1.1.1",
        "172.32.0.1",
        "93.184.215.14",
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "::ffff:8.8.8.8",
    ];

    #[test]
    fn internal_addresses_are_recognised() {
        for (ip, what) in INTERNAL {
            assert!(is_internal(ip.parse().unwrap()), "{ip} ({what}) should be internal");
        }
        for ip in PUBLIC {
            assert!(!is_internal(ip.parse().unwrap()), "{ip} should be public");
        }
    }

    #[tokio::test]
    async fn urls_naming_internal_addresses_are_refused_at_save_and_at_connect_time() {
        for (ip, what) in INTERNAL {
            let host = if ip.contains(':') { format!("[{ip}]") } else { (*ip).to_owned() };
            let url = format!("http://{host}/hook");
            let refused = check_url(&url, false).await;
            assert!(refused.as_ref().is_err_and(|e| e.contains("internal address")), "{url} ({what}): {refused:?}");
            assert!(is_internal_literal(&Url::parse(&url).unwrap()), "{url} ({what}) at connect time");
        }
        for ip in PUBLIC {
            let host = if ip.contains(':') { format!("[{ip}]") } else { (*ip).to_owned() };
            let url = format!("https://{host}/hook");
            assert!(check_url(&url, false).await.is_ok(), "{url}");
            assert!(!is_internal_literal(&Url::parse(&url).unwrap()), "{url}");
        }
        // Other spellings of IPv4 loopback are the same address.
        for url in ["http://2130706433/", "http://0x7f.1/", "http://127.1/", "http://[0:0:0:0:0:ffff:7f00:1]/"] {
            assert!(check_url(url, false).await.is_err(), "{url}");
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
