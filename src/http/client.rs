use crate::domain::Locale;
use crate::flows::context::Origin;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use ipnet::IpNet;
use std::future::{ready, Ready};
use std::net::IpAddr;
use tracing_actix_web::RequestId;

/// The `User-Agent` header is cut to this many characters.
const MAX_USER_AGENT_CHARS: usize = 512;

/// The client address: the peer, unless the peer is a trusted proxy; then the
/// right-most `X-Forwarded-For` entry that is not a trusted proxy (entries
/// further left were written by the client and prove nothing).
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer?;
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut hops = forwarded_for
        .iter()
        .flat_map(|value| value.split(','))
        .map(|hop| parse_hop(hop.trim()));
    let mut client = peer;
    while let Some(hop) = hops.next_back() {
        match hop {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return Some(ip),
            // A malformed entry: stop at the last address we could trust.
            Err(_) => break,
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, or an address with a port as
/// some proxies write it (`203.0.113.9:51234`, `[2001:db8::1]:443`). Read as
/// malformed, such an entry would make every client behind the proxy share
/// the proxy's own limits.
fn parse_hop(hop: &str) -> Result<IpAddr, std::net::AddrParseError> {
    hop.parse::<IpAddr>().or_else(|error| {
        hop.parse::<std::net::SocketAddr>()
            .map(|a| a.ip())
            .map_err(|_| error)
    })
}

/// Where the request came from; see [`Origin`].
impl FromRequest for Origin {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.trusted_proxies.as_slice())
            .unwrap_or_default();
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect();
        let ip = client_ip(req.peer_addr().map(|a| a.ip()), &forwarded, trusted);
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_USER_AGENT_CHARS)
                    .collect::<String>()
            })
            .filter(|ua| !ua.is_empty());
        let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
        let locale = req
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Locale::negotiate);
        ready(Ok(Origin {
            ip,
            user_agent,
            request_id,
            locale,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_cannot_choose_their_address() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = Some(ip("203.0.113.9"));
        assert_eq!(
            client_ip(peer, &["1.2.3.4"], &trusted),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(client_ip(peer, &[], &[]), Some(ip("203.0.113.9")));
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = Some(ip("10.0.0.2"));
        // spoofed, real client, inner proxy
        let chain = ["6.6.6.6, 198.51.100.7", "10.0.0.1"];
        assert_eq!(client_ip(peer, &chain, &trusted), Some(ip("198.51.100.7")));
        assert_eq!(client_ip(peer, &[], &trusted), Some(ip("10.0.0.2")));
        assert_eq!(
            client_ip(peer, &["garbage"], &trusted),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn entries_with_a_port_name_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = Some(ip("10.0.0.2"));
        let v4 = ["198.51.100.7:51234"];
        assert_eq!(client_ip(peer, &v4, &trusted), Some(ip("198.51.100.7")));
        let v6 = ["[2001:db8::7]:443, 10.0.0.1:80"];
        assert_eq!(client_ip(peer, &v6, &trusted), Some(ip("2001:db8::7")));
    }

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        let a = Origin {
            ip: Some(ip("2001:db8:1:2:aaaa::1")),
            ..Default::default()
        };
        let b = Origin {
            ip: Some(ip("2001:db8:1:2:bbbb::9")),
            ..Default::default()
        };
        assert_eq!(a.limit_key(), b.limit_key());
        let v4 = Origin {
            ip: Some(ip("::ffff:192.0.2.1")),
            ..Default::default()
        };
        assert_eq!(v4.limit_key().as_deref(), Some("192.0.2.1"));
    }
}
