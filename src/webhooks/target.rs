//! Where a webhook may be sent. A target that resolves to the service's own
//! network (loopback, private, link-local such as cloud metadata at
//! 169.254.169.254, unique-local IPv6, …) is refused, at creation and again
//! at every delivery (DNS can change between the two), unless the
//! `webhooks.allowed_private_targets` setting names it.

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("must be an absolute http(s) URL without credentials or fragment")]
    Malformed,
    #[error("must use https")]
    NotHttps,
    #[error("resolves to a loopback, private or link-local address")]
    Private,
    #[error("the host name does not resolve")]
    Unresolved,
}

#[derive(Debug, Clone)]
pub struct TargetPolicy {
    https_only: bool,
    allowed: Vec<IpNet>,
}

impl TargetPolicy {
    pub fn new(https_only: bool, allowed: Vec<IpNet>) -> Self {
        Self {
            https_only,
            allowed,
        }
    }

    /// The URL's form, and its address when it is an IP literal.
    pub fn check_url(&self, url: &str) -> Result<Url, TargetError> {
        let parsed = Url::parse(url).map_err(|_| TargetError::Malformed)?;
        let http = matches!(parsed.scheme(), "http" | "https");
        if !http
            || parsed.host().is_none()
            || !parsed.username().is_empty()
            || parsed.password().is_some()
            || parsed.fragment().is_some()
            || url.len() > 2048
        {
            return Err(TargetError::Malformed);
        }
        if self.https_only && parsed.scheme() != "https" {
            return Err(TargetError::NotHttps);
        }
        let literal = match parsed.host() {
            Some(oauth2::url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(oauth2::url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if literal.is_some_and(|ip| !self.allows(ip)) {
            return Err(TargetError::Private);
        }
        Ok(parsed)
    }

    /// Checks the URL and every address its host resolves to now.
    pub async fn check(&self, url: &str) -> Result<Url, TargetError> {
        let parsed = self.check_url(url)?;
        let host = parsed.host_str().ok_or(TargetError::Malformed)?;
        let port = parsed.port_or_known_default().unwrap_or(443);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| TargetError::Unresolved)?
            .collect();
        if addresses.is_empty() {
            return Err(TargetError::Unresolved);
        }
        if addresses.iter().any(|a| !self.allows(a.ip())) {
            return Err(TargetError::Private);
        }
        Ok(parsed)
    }

    /// Public addresses, and those the allow-list names.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allowed.iter().any(|net| net.contains(&ip)) || is_public(ip)
    }

    /// A resolver for the delivery client that drops every address the
    /// policy refuses, so that a name cannot be pointed inside after it
    /// was checked.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver {
            policy: self.clone(),
        })
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0) // site-local (deprecated)
}

/// See [`TargetPolicy::resolver`].
pub struct GuardedResolver {
    policy: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|a| policy.allows(a.ip())).collect();
            if allowed.is_empty() {
                return Err(
                    Box::new(TargetError::Private) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_addresses_are_refused_unless_listed() {
        let policy = TargetPolicy::new(false, vec![]);
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!policy.allows(inside.parse().unwrap()), "{inside}");
        }
        for outside in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(policy.allows(outside.parse().unwrap()), "{outside}");
        }
        let listed = TargetPolicy::new(false, vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(listed.allows("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn urls_are_checked_for_form_and_scheme() {
        let production = TargetPolicy::new(true, vec![]);
        assert!(matches!(
            production.check_url("http://example.com/hook"),
            Err(TargetError::NotHttps)
        ));
        assert!(production.check_url("https://example.com/hook").is_ok());
        for bad in [
            "ftp://example.com",
            "https://user:pw@example.com",
            "/relative",
            "https://example.com/#x",
        ] {
            assert!(
                matches!(production.check_url(bad), Err(TargetError::Malformed)),
                "{bad}"
            );
        }
        assert!(matches!(
            production.check_url("https://127.0.0.1/hook"),
            Err(TargetError::Private)
        ));
        assert!(matches!(
            production.check_url("https://[::1]/hook"),
            Err(TargetError::Private)
        ));
    }
}
