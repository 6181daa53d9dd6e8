//! The client's address: the socket's peer, or, when the peer is a trusted proxy (`CAPCOM_TRUSTED_PROXIES`),
//! the address the proxies recorded in their forwarding header (`CAPCOM_TRUSTED_PROXY_HEADER`).
//!
//! [`attach`], in the router's edge middleware, runs before every route and puts a [`ClientAddress`] into the request's extensions; the
//! per-address sign-in and sign-up throttles, the audit events' `clientAddress` and the request log line
//! read it from there, never the socket or the headers themselves.
//!
//! The header is read from the right, the way it was written: each proxy appends the address it received
//! the request from. Starting from the socket's peer, while the current hop is trusted, the next address
//! to the left is the one that hop saw; the first untrusted address is the client. Addresses left of it
//! were written by someone no one vouches for (maybe the client itself) and are never used. If every hop is
//! trusted, the leftmost is the client; if a trusted proxy recorded something that is not an address
//! (`unknown`, an RFC 7239 obfuscated name), the last trusted hop is.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;

use crate::config::{ProxyHeader, TrustedProxies};

/// The address of the client a request came from (in the request's extensions, set by [`attach`]).
/// IPv4-mapped IPv6 addresses are given as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The address as text (`192.0.2.7`, `2001:db8::1`), as audit events and the throttles keep it.
    pub fn text(self) -> String {
        self.0.to_string()
    }
}

/// What [`attach`] needs from the configuration.
#[derive(Debug, Clone)]
pub struct ProxyTrust {
    /// The trusted proxies.
    pub proxies: TrustedProxies,
    /// The header they write.
    pub header: ProxyHeader,
}

/// Puts the request's [`ClientAddress`] into its extensions, from its socket peer (the server is run with
/// connect info, see [`crate::http::server::serve`]) and headers, before the inner service (the router's edge
/// middleware, `crate::http::router`). A request without a peer (a router called directly, without a
/// socket) gets none.
pub fn attach<B>(request: &mut axum::http::Request<B>, trust: &ProxyTrust) {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(address)| address.ip());
    if let Some(peer) = peer {
        let address = client_address(peer, request.headers(), trust);
        request.extensions_mut().insert(ClientAddress(address));
    }
}

/// The client's address for a request from `peer` with `headers` (see the module documentation).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trust: &ProxyTrust) -> IpAddr {
    let peer = peer.to_canonical();
    if trust.proxies.is_empty() || !trust.proxies.contains(peer) {
        return peer;
    }
    let hops = match trust.header {
        ProxyHeader::XForwardedFor => forwarded_for_hops(headers),
        ProxyHeader::Forwarded => forwarded_hops(headers),
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(address) = hop else { return client };
        client = address.to_canonical();
        if !trust.proxies.contains(client) {
            return client;
        }
    }
    client
}

/// The hops of every `X-Forwarded-For` line, in order (left = farthest); `None` for one that is not an
/// address.
fn forwarded_for_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(text) => text.split(',').map(|hop| node_address(hop.trim())).collect::<Vec<_>>(),
            // A line that is not text cannot be split into hops: it counts as one unreadable hop.
            Err(_) => vec![None],
        })
        .collect()
}

/// The `for=` of every element of every `Forwarded` line (RFC 7239 §4), in order; `None` for an element
/// without one or whose node is not an address (`unknown`, `_hidden`).
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("forwarded")
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(text) => split_outside_quotes(text, ',')
                .into_iter()
                .map(|element| {
                    split_outside_quotes(element, ';').into_iter().find_map(|pair| {
                        let (name, value) = pair.split_once('=')?;
                        name.trim().eq_ignore_ascii_case("for").then(|| value.trim())
                    })
                })
                .map(|node| node.and_then(|node| node_address(unquote(node))))
                .collect::<Vec<_>>(),
            Err(_) => vec![None],
        })
        .collect()
}

/// `text` split at `separator`s that are not inside a quoted string (a `Forwarded` value may quote `,`
/// and `;`).
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (index, character) in text.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ if character == separator && !quoted => {
                parts.push(&text[start..index]);
                start = index + character.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn unquote(text: &str) -> &str {
    text.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')).unwrap_or(text)
}

/// The address of a node as proxies write it: `192.0.2.7`, `192.0.2.7:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`. Anything else (`unknown`, an obfuscated name) is `None`.
fn node_address(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return if port_ok { inside.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6) } else { None };
    }
    if let Ok(address) = node.parse::<IpAddr>() {
        return Some(address);
    }
    let (host, port) = node.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// A port as RFC 7239 writes it: digits, or an obfuscated `_name`.
fn is_port(text: &str) -> bool {
    !text.is_empty()
        && (text.bytes().all(|b| b.is_ascii_digit())
            || (text.starts_with('_')
                && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn trust(proxies: &str, header: ProxyHeader) -> ProxyTrust {
        ProxyTrust { proxies: proxies.parse().unwrap(), header }
    }

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn client(peer: &str, lines: &[(&'static str, &str)], trust: &ProxyTrust) -> String {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(axum::http::HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
        }
        client_address(address(peer), &headers, trust).to_string()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let none = trust("", ProxyHeader::XForwardedFor);
        assert_eq!(client("192.0.2.1", &[("x-forwarded-for", "203.0.113.9")], &none), "192.0.2.1");
        let some = trust("10.0.0.0/8", ProxyHeader::XForwardedFor);
        assert_eq!(client("192.0.2.1", &[("x-forwarded-for", "203.0.113.9")], &some), "192.0.2.1");
        assert_eq!(client("::ffff:192.0.2.1", &[], &some), "192.0.2.1");
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let xff = trust("10.0.0.0/8", ProxyHeader::XForwardedFor);
        assert_eq!(client("10.0.0.1", &[("x-forwarded-for", "203.0.113.9")], &xff), "203.0.113.9");
        // The client wrote `198.51.100.1` itself; the proxy appended what it saw.
        assert_eq!(client("10.0.0.1", &[("x-forwarded-for", "198.51.100.1, 203.0.113.9")], &xff), "203.0.113.9");
        assert_eq!(
            client("10.0.0.1", &[("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.2.3.4")], &xff),
            "203.0.113.9"
        );
        // Several lines are one list, in order.
        assert_eq!(
            client("10.0.0.1", &[("x-forwarded-for", "198.51.100.1"), ("x-forwarded-for", "10.9.9.9")], &xff),
            "198.51.100.1"
        );
        // Every hop trusted: the leftmost is the client.
        assert_eq!(client("10.0.0.1", &[("x-forwarded-for", "10.0.0.7, 10.0.0.8")], &xff), "10.0.0.7");
        // No header: the peer.
        assert_eq!(client("10.0.0.1", &[], &xff), "10.0.0.1");
        // Ports and brackets are what some proxies write.
        assert_eq!(client("10.0.0.1", &[("x-forwarded-for", "203.0.113.9:5123")], &xff), "203.0.113.9");
        assert_eq!(client("10.0.0.1", &[("x-forwarded-for", "[2001:db8::7]:5123")], &xff), "2001:db8::7");
        assert_eq!(client("10.0.0.1", &[("x-forwarded-for", "2001:db8::7")], &xff), "2001:db8::7");
    }

    #[test]
    fn what_a_trusted_hop_wrote_that_is_no_address_stops_at_that_hop() {
        let xff = trust("10.0.0.0/8", ProxyHeader::XForwardedFor);
        assert_eq!(client("10.0.0.1", &[("x-forwarded-for", "203.0.113.9, unknown")], &xff), "10.0.0.1");
        assert_eq!(client("10.0.0.1", &[("x-forwarded-for", "203.0.113.9, garbage, 10.0.0.2")], &xff), "10.0.0.2");
        assert_eq!(client("10.0.0.1", &[("x-forwarded-for", "")], &xff), "10.0.0.1");
        // Beyond the first untrusted hop nothing is read, garbage or not.
        assert_eq!(client("10.0.0.1", &[("x-forwarded-for", "garbage, 203.0.113.9")], &xff), "203.0.113.9");
    }

    #[test]
    fn only_the_configured_header_counts() {
        let xff = trust("10.0.0.0/8", ProxyHeader::XForwardedFor);
        assert_eq!(client("10.0.0.1", &[("forwarded", "for=203.0.113.9")], &xff), "10.0.0.1");
        let forwarded = trust("10.0.0.0/8", ProxyHeader::Forwarded);
        assert_eq!(client("10.0.0.1", &[("x-forwarded-for", "203.0.113.9")], &forwarded), "10.0.0.1");
    }

    #[test]
    fn forwarded_is_read_as_rfc_7239_writes_it() {
        let forwarded = trust("10.0.0.0/8", ProxyHeader::Forwarded);
        let one = |value: &str| client("10.0.0.1", &[("forwarded", value)], &forwarded);
        assert_eq!(one("for=203.0.113.9"), "203.0.113.9");
        assert_eq!(one("For=\"203.0.113.9:4711\";proto=https;by=10.0.0.1"), "203.0.113.9");
        assert_eq!(one("for=\"[2001:db8:cafe::17]:4711\""), "2001:db8:cafe::17");
        assert_eq!(one("for=198.51.100.1, for=203.0.113.9;proto=http, for=10.3.3.3"), "203.0.113.9");
        assert_eq!(one("proto=https;host=\"a,b\";for=203.0.113.9"), "203.0.113.9");
        assert_eq!(one("for=198.51.100.1, for=_hidden"), "10.0.0.1");
        assert_eq!(one("for=198.51.100.1, proto=https"), "10.0.0.1", "an element without `for` is no address");
        assert_eq!(one("for=unknown"), "10.0.0.1");
    }
}
