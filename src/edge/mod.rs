//! The edge: who is calling, how often they may, and how much the server takes in at once.
//!
//! - The client address is the socket's peer, or the nearest untrusted address of
//!   `X-Forwarded-For` when the peer is one of `TRUSTED_PROXIES`.
//! - Rate limits per client address and per session on the join, status, hold and order
//!   routes, per address on reads and failed logins ([`limits`]); addresses in
//!   `RATE_LIMIT_EXEMPT` (nobody by default; a load generator's address when testing) are not
//!   limited. An address that failed the organizer token too often is locked out a while.
//! - Proof of work on joins ([`pow`]).
//! - A count of requests in flight for the node's ceiling and per address, and a deadline for
//!   request bodies ([`deadline`]); the web layer's guard applies them before any handler runs.
//! - Whether a request came over HTTPS and from the product's own pages (its origin).

pub mod deadline;
pub mod limits;
pub mod pow;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{HttpMessage, HttpRequest};
use ipnet::IpNet;
use parking_lot::Mutex;

use limits::{KeyedLimit, Limit};

/// The routes that carry their own limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Join,
    Status,
    Hold,
    Order,
    /// Organizer console logins and organizer API calls with a wrong token (per address
    /// only: guessing the token is what it slows).
    Login,
    /// Reads anyone may make (event pages and lists, challenges, the draw, orders), per
    /// address: each costs the server more than a status poll.
    Read,
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
    pub read: RouteLimits,
    /// Most keys one limiter holds.
    pub limiter_max_keys: usize,
    /// Most requests in flight on this node (operations endpoints aside).
    pub max_inflight: usize,
    /// Most requests in flight from one client address.
    pub max_inflight_per_client: usize,
    /// Longest a request may take, reading its body included.
    pub request_timeout: Duration,
    /// How long a proof-of-work challenge stays good.
    pub pow_challenge_ttl: Duration,
    /// The address fans and organizers reach the site at (`https://tickets.example.com`), if
    /// configured: links in mails, `Secure` cookies when it is `https`, the site's origin.
    pub public_url: Option<String>,
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
    routes: [RouteLimiters; 6],
    inflight: AtomicUsize,
    /// Requests in flight per client address.
    inflight_by_client: Mutex<HashMap<u128, usize>>,
    /// Addresses that failed the organizer token too often, until when.
    lockouts: Mutex<HashMap<u128, Instant>>,
    /// Whether the missing-`TRUSTED_PROXIES` warning was logged.
    warned_forwarded: AtomicBool,
}

/// A request counted in flight for its client address until dropped.
pub struct ClientInFlight<'a> {
    edge: &'a Edge,
    key: Option<u128>,
}

impl Drop for ClientInFlight<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.edge.leave_client(key);
        }
    }
}

/// A request counted in flight until dropped.
pub struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request set aside from the in-flight count; counted again when dropped.
pub struct SetAside<'a> {
    edge: &'a Edge,
    key: Option<u128>,
}

impl Drop for SetAside<'_> {
    fn drop(&mut self) {
        self.edge.inflight.fetch_add(1, Ordering::Relaxed);
        if let Some(key) = self.key {
            *self.edge.inflight_by_client.lock().entry(key).or_insert(0) += 1;
        }
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
                RouteLimiters::new(&s.read, max),
            ],
            settings: s,
            inflight: AtomicUsize::new(0),
            inflight_by_client: Mutex::default(),
            lockouts: Mutex::default(),
            warned_forwarded: AtomicBool::new(false),
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
        if self.settings.trusted_proxies.is_empty()
            && req.headers().contains_key("x-forwarded-for")
            && !self.warned_forwarded.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                %peer,
                "requests arrive with X-Forwarded-For but TRUSTED_PROXIES is empty: every \
                 client behind the proxy shares its address (one rate limit for all); set \
                 TRUSTED_PROXIES to the proxy's address"
            );
        }
        Some(client_ip(
            peer,
            req.headers()
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok()),
            &self.settings.trusted_proxies,
        ))
    }

    /// The caller as the limits see it: as the guard resolved it for this request, else
    /// resolved now.
    pub fn client(&self, req: &HttpRequest) -> Client {
        if let Some(client) = req.extensions().get::<Client>() {
            return *client;
        }
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

    /// Drops limiter keys back to a fresh state and lockouts that ran out; reports how many
    /// keys are held.
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
        let now = Instant::now();
        self.lockouts.lock().retain(|_, until| *until > now);
        metrics::gauge!("rate_limiter_keys").set(keys as f64);
    }

    /// Counts a request in flight, or `None` at the ceiling.
    pub fn enter(&self) -> Option<InFlight<'_>> {
        let before = self.inflight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(&self.inflight);
        (before < self.settings.max_inflight).then_some(guard)
    }

    /// Lets a request that waits without working (a long poll) out of the node's and its
    /// address's in-flight counts while the returned guard lives: parked requests have their
    /// own bound, and fans sharing an address (a carrier NAT) each park one poll.
    pub fn set_aside(&self, client: Client) -> SetAside<'_> {
        self.inflight.fetch_sub(1, Ordering::Relaxed);
        let key = client.0.map(ip_key);
        if let Some(key) = key {
            self.leave_client(key);
        }
        SetAside { edge: self, key }
    }

    /// Requests in flight now.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Relaxed)
    }

    /// The most requests one address may have in flight: the setting, and never more than a
    /// quarter of the node's ceiling (so one address cannot take the node).
    fn client_ceiling(&self) -> usize {
        self.settings
            .max_inflight_per_client
            .min(self.settings.max_inflight / 4)
            .max(1)
    }

    /// Counts a request in flight for its address, or `None` when the address is at its
    /// ceiling. Exempt addresses are not counted.
    pub fn enter_client(&self, client: Client) -> Option<ClientInFlight<'_>> {
        let Some(ip) = client.0 else {
            return Some(ClientInFlight {
                edge: self,
                key: None,
            });
        };
        let key = ip_key(ip);
        let mut counts = self.inflight_by_client.lock();
        let n = counts.entry(key).or_insert(0);
        if *n >= self.client_ceiling() {
            return None;
        }
        *n += 1;
        Some(ClientInFlight {
            edge: self,
            key: Some(key),
        })
    }

    /// One request of the address fewer in flight.
    fn leave_client(&self, key: u128) {
        let mut counts = self.inflight_by_client.lock();
        if let Some(n) = counts.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&key);
            }
        }
    }

    /// How long the address is still locked out of organizer calls, if it is.
    pub fn locked_out(&self, client: Client) -> Option<Duration> {
        let key = ip_key(client.0?);
        let mut lockouts = self.lockouts.lock();
        let until = *lockouts.get(&key)?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            lockouts.remove(&key);
            return None;
        }
        Some(left)
    }

    /// Counts a wrong organizer token against the address's login limit: `Err` with the
    /// lockout when over it (every organizer call from the address is refused until then,
    /// right token or not, so guessing learns nothing).
    pub fn failed_login(&self, client: Client) -> Result<(), Duration> {
        let Some(ip) = client.0 else { return Ok(()) };
        let wait = match self.check_ip(Route::Login, client) {
            Ok(()) => return Ok(()),
            Err(wait) => wait,
        };
        let mut lockouts = self.lockouts.lock();
        if lockouts.len() >= self.settings.limiter_max_keys {
            let now = Instant::now();
            lockouts.retain(|_, until| *until > now);
        }
        if lockouts.len() < self.settings.limiter_max_keys {
            lockouts.insert(ip_key(ip), Instant::now() + wait);
        }
        Err(wait)
    }

    /// Whether the browser reached the site over HTTPS: `PUBLIC_URL` is `https://…`, or a
    /// trusted proxy says so in `X-Forwarded-Proto` (nobody else's header counts).
    pub fn is_https(&self, req: &HttpRequest) -> bool {
        if let Some(url) = &self.settings.public_url {
            return url.starts_with("https://");
        }
        let from_proxy = req
            .peer_addr()
            .is_some_and(|peer| self.is_trusted(&peer.ip()));
        from_proxy
            && req
                .headers()
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').next().unwrap_or("").trim() == "https")
    }

    fn is_trusted(&self, ip: &IpAddr) -> bool {
        self.settings.trusted_proxies.iter().any(|n| n.contains(ip))
    }

    /// Whether a request comes from another site's page (a browser tells: `Sec-Fetch-Site`,
    /// else `Origin`). Requests without either (scripts, load tests) are not cross-site.
    pub fn is_cross_site(&self, req: &HttpRequest) -> bool {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        match header("sec-fetch-site") {
            Some("same-origin" | "none") => return false,
            Some(_) => return true,
            None => {}
        }
        let Some(origin) = header("origin") else {
            return false;
        };
        if self
            .settings
            .public_url
            .as_deref()
            .is_some_and(|url| url.eq_ignore_ascii_case(origin))
        {
            return false;
        }
        // Same origin as the host the browser asked for (the scheme aside: behind a proxy the
        // node may not know it).
        let host = header("host").unwrap_or("");
        let origin_host = origin
            .split_once("://")
            .map_or("", |(_, rest)| rest.trim_end_matches('/'));
        host.is_empty() || !origin_host.eq_ignore_ascii_case(host)
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
