//! The HTTP server loop: HTTP/1.1 and HTTP/2 over TCP with limits that keep slow or greedy clients
//! from holding the server's connections (a deadline for request headers, which also closes idle
//! keep-alive connections, and caps on connections per client address and in all), and the
//! client address of every request, read through trusted proxies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Limits on client connections.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Time a client has to send a request's headers (and the longest an idle keep-alive
    /// connection stays open).
    pub header_read_timeout: Duration,
    /// Open connections allowed from one client address (proxies in `trusted_proxies` excepted).
    pub per_client: usize,
    /// Open connections allowed in all.
    pub total: usize,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
}

/// The address of the client that made a request: the connection's peer, or, when the peer is a
/// trusted proxy, the nearest address in `X-Forwarded-For` that is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client address of a request, when it came through [`serve`].
    pub fn of(extensions: &axum::http::Extensions) -> Option<IpAddr> {
        extensions.get::<ClientAddr>().map(|client| client.0)
    }
}

/// Open connections per peer address, and in all.
#[derive(Default)]
struct Connections {
    per_peer: HashMap<IpAddr, usize>,
    total: usize,
}

/// One open connection; closing it (dropping this) gives its place back.
struct Slot {
    connections: Arc<Mutex<Connections>>,
    peer: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut connections = self.connections.lock().unwrap_or_else(PoisonError::into_inner);
        connections.total -= 1;
        if let Some(peer) = self.peer {
            if let Some(count) = connections.per_peer.get_mut(&peer) {
                *count -= 1;
                if *count == 0 {
                    connections.per_peer.remove(&peer);
                }
            }
        }
    }
}

/// Takes a place for a connection from `peer`, or `None` when a cap is reached.
fn take_slot(connections: &Arc<Mutex<Connections>>, peer: IpAddr, limits: &ConnectionLimits) -> Option<Slot> {
    let capped = !is_trusted(peer, &limits.trusted_proxies);
    let mut open = connections.lock().unwrap_or_else(PoisonError::into_inner);
    if open.total >= limits.total {
        return None;
    }
    if capped {
        let count = open.per_peer.entry(peer).or_default();
        if *count >= limits.per_client {
            return None;
        }
        *count += 1;
    }
    open.total += 1;
    Some(Slot { connections: connections.clone(), peer: capped.then_some(peer) })
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|net| net.contains(&ip))
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client of a request that came from `peer`.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> ClientAddr {
    if !is_trusted(peer, trusted) {
        return ClientAddr(canonical(peer));
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = canonical(peer);
    for hop in forwarded.into_iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !is_trusted(client, trusted) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    ClientAddr(client)
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets open requests finish.
pub async fn serve(listener: TcpListener, router: Router, limits: ConnectionLimits, shutdown: CancellationToken) {
    let connections = Arc::new(Mutex::new(Connections::default()));
    let graceful = GracefulShutdown::new();
    let limits = Arc::new(limits);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or a connection reset before it was accepted: wait a
                    // moment rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = take_slot(&connections, peer.ip(), &limits) else {
            tracing::debug!(peer = %peer.ip(), "connection refused: too many open connections");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let requests_limits = limits.clone();
        let service = router.clone().map_request(move |request: Request<Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            let client = client_addr(peer.ip(), request.headers(), &requests_limits.trusted_proxies);
            request.extensions_mut().insert(client);
            request
        });
        let mut builder = Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
        builder.http2().timer(TokioTimer::new()).keep_alive_interval(Duration::from_secs(30));
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_read_through_trusted_proxies_only() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7, 10.1.1.1".parse().unwrap());
        let direct: IpAddr = "198.51.100.50".parse().unwrap();
        assert_eq!(client_addr(direct, &headers, &trusted), ClientAddr(direct), "an untrusted peer is the client");
        let proxy: IpAddr = "10.2.2.2".parse().unwrap();
        assert_eq!(
            client_addr(proxy, &headers, &trusted),
            ClientAddr("198.51.100.7".parse().unwrap()),
            "the nearest untrusted hop, not the first one a client could forge"
        );
        assert_eq!(client_addr(proxy, &HeaderMap::new(), &trusted), ClientAddr(proxy));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_addr(mapped, &headers, &trusted), ClientAddr("198.51.100.7".parse().unwrap()));
    }

    #[test]
    fn connections_are_capped_per_client_and_in_all() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(1),
            per_client: 2,
            total: 3,
            trusted_proxies: vec!["10.0.0.1/32".parse().unwrap()],
        };
        let connections = Arc::new(Mutex::new(Connections::default()));
        let (a, b, proxy): (IpAddr, IpAddr, IpAddr) =
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap(), "10.0.0.1".parse().unwrap());
        let first = take_slot(&connections, a, &limits).expect("first");
        let _second = take_slot(&connections, a, &limits).expect("second");
        assert!(take_slot(&connections, a, &limits).is_none(), "a third from one client");
        drop(first);
        let _again = take_slot(&connections, a, &limits).expect("a place was given back");
        let _other = take_slot(&connections, b, &limits).expect("another client");
        assert!(take_slot(&connections, b, &limits).is_none(), "the total is reached");
        assert!(take_slot(&connections, proxy, &limits).is_none(), "the total holds for proxies too");
    }
}
