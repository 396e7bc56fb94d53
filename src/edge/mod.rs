//! The edge: who is calling, how often they may, and how much the server takes in at once.
//!
//! - The client address is the socket's peer, or the nearest untrusted address of
//!   `X-Forwarded-For` when the peer is one of `TRUSTED_PROXIES`.
//! - Rate limits per client address and per session on the join, status, hold and order
//!   routes ([`limits`]); addresses in `RATE_LIMIT_EXEMPT` (loopback by default: operators
//!   and load generators on the machine itself) are not limited.
//! - Proof of work on joins ([`pow`]).
//! - A count of requests in flight for the node's ceiling, and a deadline for request bodies
//!   ([`deadline`]); the web layer's guard applies both before any handler runs.

pub mod deadline;
pub mod limits;
pub mod pow;

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{HttpMessage, HttpRequest};
use ipnet::IpNet;

use limits::{KeyedLimit, Limit};

/// The routes that carry their own limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Join,
    Status,
    Hold,
    Order,
    /// Organizer console logins (per address only: guessing the token is what it slows).
    Login,
}

/// The limits of one route: per client address, per session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteLimits {
    pub per_ip: Limit,
    pub per_session: Limit,
}

/// The edge's settings (read by `config`, like every other setting).
#[derive(Clone, Debug)]
pub struct EdgeSettings {
    pub trusted_proxies: Vec<IpNet>,
    pub rate_limit_exempt: Vec<IpNet>,
    pub join: RouteLimits,
    pub status: RouteLimits,
    pub hold: RouteLimits,
    pub order: RouteLimits,
    pub login: RouteLimits,
    /// Most keys one limiter holds.
    pub limiter_max_keys: usize,
    /// Most requests in flight on this node (operations endpoints aside).
    pub max_inflight: usize,
    /// Longest a request may take, reading its body included.
    pub request_timeout: Duration,
    /// How long a proof-of-work challenge stays good.
    pub pow_challenge_ttl: Duration,
}

/// Limiters keyed by address and by session, for one route (both keys fit in a `u128`:
/// an address, or a session id's 16 random bytes).
struct RouteLimiters {
    per_ip: Option<KeyedLimit<u128>>,
    per_session: Option<KeyedLimit<u128>>,
}

/// The client of a request another node forwarded here (the owner of its event): set by the
/// web layer once the forwarding node's signature checks out, so the limits see the client,
/// not the forwarding node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForwardedClient(pub IpAddr);

/// The caller as the limits see it, resolved once per request: their address, or `None`
/// when no limit applies to them (an exempt address, or a request without a socket).
#[derive(Clone, Copy, Debug)]
pub struct Client(Option<IpAddr>);

impl RouteLimiters {
    fn new(limits: &RouteLimits, max_keys: usize) -> Self {
        RouteLimiters {
            per_ip: limits.per_ip.0.map(|r| KeyedLimit::new(r, max_keys)),
            per_session: limits.per_session.0.map(|r| KeyedLimit::new(r, max_keys)),
        }
    }
}

/// The edge's shared state, one per node.
pub struct Edge {
    settings: EdgeSettings,
    routes: [RouteLimiters; 5],
    inflight: AtomicUsize,
}

/// A request counted in flight until dropped.
pub struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request set aside from the in-flight count; counted again when dropped.
pub struct SetAside<'a>(&'a AtomicUsize);

impl Drop for SetAside<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Edge {
    /// The edge of one node.
    pub fn new(settings: &EdgeSettings) -> Self {
        let s = settings.clone();
        let max = s.limiter_max_keys;
        Edge {
            routes: [
                RouteLimiters::new(&s.join, max),
                RouteLimiters::new(&s.status, max),
                RouteLimiters::new(&s.hold, max),
                RouteLimiters::new(&s.order, max),
                RouteLimiters::new(&s.login, max),
            ],
            settings: s,
            inflight: AtomicUsize::new(0),
        }
    }

    /// The edge's settings.
    pub fn settings(&self) -> &EdgeSettings {
        &self.settings
    }

    fn limiters(&self, route: Route) -> &RouteLimiters {
        &self.routes[route as usize]
    }

    /// The caller's address: the peer, or the nearest untrusted hop of `X-Forwarded-For`
    /// when the peer is a trusted proxy. `None` only for requests without a socket (tests).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        if let Some(ForwardedClient(ip)) = req.extensions().get::<ForwardedClient>() {
            return Some(*ip);
        }
        let peer = req.peer_addr()?.ip();
        Some(client_ip(
            peer,
            req.headers()
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok()),
            &self.settings.trusted_proxies,
        ))
    }

    /// The caller as the limits see it (resolve it once per request).
    pub fn client(&self, req: &HttpRequest) -> Client {
        let exempt = |ip: &IpAddr| {
            self.settings
                .rate_limit_exempt
                .iter()
                .any(|n| n.contains(ip))
        };
        Client(self.client_ip(req).filter(|ip| !exempt(ip)))
    }

    /// Applies a route's limit per client address, before anything else is read. `Err`
    /// holds how long until the caller may try again.
    pub fn check_ip(&self, route: Route, client: Client) -> Result<(), Duration> {
        match (&self.limiters(route).per_ip, client.0) {
            (Some(limit), Some(ip)) => limit.check(&ip_key(ip)),
            _ => Ok(()),
        }
    }

    /// Applies a route's limit per session, once the caller's token is verified.
    pub fn check_session(
        &self,
        route: Route,
        client: Client,
        session: &str,
    ) -> Result<(), Duration> {
        match (&self.limiters(route).per_session, client.0) {
            (Some(limit), Some(_)) => limit.check(&session_key(session)),
            _ => Ok(()),
        }
    }

    /// Drops limiter keys back to a fresh state; reports how many keys are held.
    pub fn sweep(&self) {
        let mut keys = 0;
        for route in &self.routes {
            if let Some(l) = &route.per_ip {
                l.sweep();
                keys += l.len();
            }
            if let Some(l) = &route.per_session {
                l.sweep();
                keys += l.len();
            }
        }
        metrics::gauge!("rate_limiter_keys").set(keys as f64);
    }

    /// Counts a request in flight, or `None` at the ceiling.
    pub fn enter(&self) -> Option<InFlight<'_>> {
        let before = self.inflight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(&self.inflight);
        (before < self.settings.max_inflight).then_some(guard)
    }

    /// Lets a request that waits without working (a long poll) out of the in-flight count
    /// while the returned guard lives: parked requests have their own bound.
    pub fn set_aside(&self) -> SetAside<'_> {
        self.inflight.fetch_sub(1, Ordering::Relaxed);
        SetAside(&self.inflight)
    }

    /// Requests in flight now.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Relaxed)
    }
}

/// Keys an address for limiting: IPv4 whole, IPv6 by its /64 (one subscriber's prefix, so a
/// host cannot dodge its limit by rotating addresses inside it).
fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6) & !((1u128 << 64) - 1),
        },
    }
}

/// Keys a session for limiting: its id is 16 random bytes in hex (signed, so always ours);
/// anything else is hashed.
fn session_key(session: &str) -> u128 {
    u128::from_str_radix(session, 16).unwrap_or_else(|_| {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        session.hash(&mut hasher);
        u128::from(hasher.finish())
    })
}

/// The client behind `peer`: walking `X-Forwarded-For` from the right (the hop nearest to us),
/// the first address that is not a trusted proxy. An untrusted peer's header is ignored, as is
/// anything left of an unparsable entry.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// Parses a comma-separated list of addresses and networks (`10.0.0.0/8, ::1`); `none` is
/// the empty list (an empty variable counts as unset, so it cannot say that).
pub fn parse_nets(text: &str) -> Result<Vec<IpNet>, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an address or network"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_peers() {
        let trusted = parse_nets("10.0.0.0/8, 127.0.0.1").unwrap();
        let xff = |v: &'static str| std::iter::once(v);
        // An untrusted peer's header is ignored.
        assert_eq!(
            client_ip(ip("203.0.113.9"), xff("198.51.100.1"), &trusted),
            ip("203.0.113.9")
        );
        // A trusted peer: the nearest untrusted hop, not a forged one further left.
        assert_eq!(
            client_ip(
                ip("127.0.0.1"),
                xff("1.2.3.4, 198.51.100.1, 10.1.1.1"),
                &trusted
            ),
            ip("198.51.100.1")
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            client_ip(ip("127.0.0.1"), xff("junk, 198.51.100.1"), &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), xff("nonsense"), &trusted),
            ip("127.0.0.1")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.5"), std::iter::empty(), &trusted),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn ipv6_hosts_share_their_slash_64() {
        assert_eq!(
            ip_key(ip("2001:db8:1:2::1")),
            ip_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(ip_key(ip("2001:db8:1:2::1")), ip_key(ip("2001:db8:1:3::1")));
        assert_eq!(ip_key(ip("192.0.2.1")), ip_key(ip("::ffff:192.0.2.1")));
        assert!(parse_nets("nonsense").is_err());
        // Sessions key by their 16 bytes; anything else by a stable hash.
        assert_eq!(session_key("00000000000000000000000000000001"), 1);
        assert_eq!(session_key("not hex"), session_key("not hex"));
        assert_ne!(session_key("not hex"), session_key("not hex!"));
        assert_eq!(parse_nets(" ").unwrap(), vec![]);
        assert_eq!(parse_nets("none").unwrap(), vec![]);
    }
}
