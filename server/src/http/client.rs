//! Who a request comes from, and its id in the logs.
//!
//! Behind a reverse proxy every connection comes from the proxy: the client's address is in the
//! `Forwarded` (RFC 7239) or `X-Forwarded-For` header the proxy adds. Anybody can write those headers,
//! so they are believed only from the addresses given with `--trusted-proxy`; from any other peer the
//! peer's own address is the client, whatever the request says. The login throttle and the logs use
//! this address.
//!
//! Every request gets an id, in its log span and in its response's `X-Request-Id` header, so that a
//! person's report ("it failed at 14:02, request 4f…") leads to the log lines. A trusted proxy's id
//! (nginx's `$request_id`) is kept, so that its access log and ours name the request alike.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The networks whose forwarding headers are believed (`--trusted-proxy`): none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets.into())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// A network given on the command line: `10.0.0.0/8`, `::1/128`, or one address (`127.0.0.1`).
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    IpNet::from_str(text)
        .or_else(|_| IpAddr::from_str(text).map(IpNet::from))
        .map_err(|_| format!("\"{text}\" is not an address or a network like 10.0.0.0/8"))
}

/// The client of a request that came from `peer` with these headers.
///
/// From an untrusted peer: the peer. From a trusted one: walking the forwarding chain from the nearest
/// hop, the first address that is not itself a trusted proxy (a client cannot make itself look like a
/// proxy's neighbour by writing addresses further left, since those are read only after every hop
/// to their right was trusted). `Forwarded` is read if present, else `X-Forwarded-For`; a chain that
/// cannot be read leaves the peer.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.trusts(peer) {
        return peer;
    }
    let chain = if headers.contains_key(header::FORWARDED) {
        forwarded_for(headers)
    } else {
        x_forwarded_for(headers)
    };
    let Some(chain) = chain else { return peer };
    let mut client = peer;
    for hop in chain.iter().rev() {
        client = *hop;
        if !trusted.trusts(*hop) {
            break;
        }
    }
    client
}

/// The addresses of `X-Forwarded-For` headers, first hop first; `None` if any is not an address.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        for item in value.to_str().ok()?.split(',') {
            hops.push(node_ip(item.trim())?);
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// The `for=` addresses of `Forwarded` headers, first hop first; `None` if an element has none or an
/// unreadable one (`for=unknown` and obfuscated names included: no address to throttle by).
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all(header::FORWARDED) {
        for element in value.to_str().ok()?.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| value.trim())
            })?;
            hops.push(node_ip(node.trim_matches('"'))?);
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`,
/// `2001:db8::1`.
fn node_ip(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, _port) = rest.split_once(']')?;
        return IpAddr::from_str(ip).ok().map(canonical);
    }
    if let Ok(ip) = IpAddr::from_str(node) {
        return Some(canonical(ip));
    }
    SocketAddr::from_str(node).ok().map(|a| canonical(a.ip()))
}

/// IPv4 addresses seen through an IPv6 socket (`::ffff:192.0.2.1`) as themselves.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What the login throttle counts a client's failures under: its address, or for IPv6 its /64 network
/// (one subscriber's line has a whole /64 and could take a new address for every guess).
pub fn throttle_scope(ip: IpAddr) -> IpNet {
    let prefix = if ip.is_ipv4() { 32 } else { 64 };
    IpNet::new(ip, prefix).map_or_else(|_| IpNet::from(ip), |net| net.trunc())
}

/// The client of a request, as [`client_ip`] decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// A request's id: a trusted proxy's, or 16 hexadecimal digits of our own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The most characters of a proxy's request id kept (nginx's are 32 hexadecimal digits).
const MAX_ID: usize = 64;

fn request_id(headers: &HeaderMap, from_trusted: bool) -> RequestId {
    let theirs = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            from_trusted
                && (1..=MAX_ID).contains(&v.len())
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_owned);
    RequestId(theirs.unwrap_or_else(|| format!("{:016x}", rand::random::<u64>())))
}

/// The outermost layer: decides the client and the id before the request's span is opened, and
/// returns the id with the response.
pub async fn identify(State(trusted): State<TrustedProxies>, mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let peer = peer.unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let from_trusted = trusted.trusts(peer);
    let client = client_ip(peer, req.headers(), &trusted);
    let id = request_id(req.headers(), from_trusted);
    let header = HeaderValue::from_str(&id.0).ok();
    req.extensions_mut().insert(ClientAddr(client));
    req.extensions_mut().insert(id);
    let mut response = next.run(req).await;
    if let Some(header) = header {
        response.headers_mut().insert("x-request-id", header);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| parse_net(n).unwrap()).collect())
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_str(name).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        IpAddr::from_str(text).unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_writes() {
        let forged = headers(&[("x-forwarded-for", "198.51.100.7"), ("forwarded", "for=198.51.100.8")]);
        assert_eq!(client_ip(ip("203.0.113.5"), &forged, &TrustedProxies::default()), ip("203.0.113.5"));
        assert_eq!(client_ip(ip("203.0.113.5"), &forged, &trusted(&["127.0.0.1"])), ip("203.0.113.5"));
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let proxies = trusted(&["127.0.0.1", "10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxies), ip("198.51.100.7"));
        // IPv4 through an IPv6 socket is the same proxy.
        assert_eq!(client_ip(ip("::ffff:127.0.0.1"), &h, &proxies), ip("198.51.100.7"));
        // Without a header: the proxy itself.
        assert_eq!(client_ip(ip("127.0.0.1"), &HeaderMap::new(), &proxies), ip("127.0.0.1"));
    }

    #[test]
    fn a_client_cannot_hide_behind_what_it_writes_left_of_the_proxy() {
        let proxies = trusted(&["127.0.0.1", "10.0.0.0/8"]);
        // The client sent "X-Forwarded-For: 1.2.3.4", nginx appended the address it saw.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxies), ip("198.51.100.7"));
        // Two proxies of ours: the first untrusted hop from the right.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.1.2.3")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxies), ip("198.51.100.7"));
        // Several header lines are one list.
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxies), ip("198.51.100.7"));
        // A client inside a trusted network, behind our proxies only: the leftmost.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.2.3")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxies), ip("10.9.9.9"));
    }

    #[test]
    fn forwarded_is_read_in_all_its_spellings() {
        let proxies = trusted(&["127.0.0.1"]);
        for (value, client) in [
            ("for=198.51.100.7", "198.51.100.7"),
            ("for=198.51.100.7;proto=https;by=127.0.0.1", "198.51.100.7"),
            ("proto=https; For=\"198.51.100.7:4711\"", "198.51.100.7"),
            ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            ("for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"),
            ("for=1.2.3.4, for=198.51.100.7", "198.51.100.7"),
        ] {
            let h = headers(&[("forwarded", value)]);
            assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxies), ip(client), "{value}");
        }
        // Forwarded wins over X-Forwarded-For when both are there.
        let h = headers(&[("forwarded", "for=198.51.100.7"), ("x-forwarded-for", "198.51.100.9")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxies), ip("198.51.100.7"));
    }

    #[test]
    fn an_unreadable_chain_leaves_the_proxy() {
        let proxies = trusted(&["127.0.0.1"]);
        for h in [
            headers(&[("x-forwarded-for", "not an address")]),
            headers(&[("x-forwarded-for", "198.51.100.7, ")]),
            headers(&[("forwarded", "for=unknown")]),
            headers(&[("forwarded", "for=_hidden")]),
            headers(&[("forwarded", "proto=https")]),
        ] {
            assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxies), ip("127.0.0.1"), "{h:?}");
        }
    }

    #[test]
    fn an_ipv6_client_is_throttled_by_its_network() {
        assert_eq!(throttle_scope(ip("198.51.100.7")).to_string(), "198.51.100.7/32");
        assert_eq!(throttle_scope(ip("2001:db8:1:2:aaaa::1")), throttle_scope(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(throttle_scope(ip("2001:db8:1:2::1")), throttle_scope(ip("2001:db8:1:3::1")));
    }

    #[test]
    fn networks_are_parsed_with_a_message() {
        assert_eq!(parse_net("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_net("127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert_eq!(parse_net("::1").unwrap().to_string(), "::1/128");
        assert!(parse_net("10.0.0.0/33").unwrap_err().contains("10.0.0.0/33"));
        assert!(parse_net("localhost").is_err());
    }

    #[test]
    fn a_proxys_request_id_is_kept_only_from_a_trusted_peer_and_when_sane() {
        let h = headers(&[("x-request-id", "4f2a9c0d1e")]);
        assert_eq!(request_id(&h, true).0, "4f2a9c0d1e");
        let ours = request_id(&h, false).0;
        assert_ne!(ours, "4f2a9c0d1e");
        assert_eq!(ours.len(), 16);
        let long = "a".repeat(65);
        for bad in ["with space", "new\u{7f}line", long.as_str()] {
            if let Ok(v) = HeaderValue::from_str(bad) {
                let mut h = HeaderMap::new();
                h.insert("x-request-id", v);
                assert_ne!(request_id(&h, true).0, bad);
            }
        }
    }
}
