//! Who is at the other end of a request: the TCP peer, or — only when the
//! peer is one of `TRUSTED_PROXIES` — the rightmost address in
//! `X-Forwarded-For` that is not a trusted proxy. A header a client sends
//! is never believed otherwise.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::env::{ConfigError, Env};

/// The networks whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`,
/// comma-separated addresses or CIDRs; none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let raw = env.get("TRUSTED_PROXIES").unwrap_or_default();
        let mut nets = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| env.error("TRUSTED_PROXIES", format!("{item:?} is not an address or CIDR")))?;
            nets.push(net);
        }
        Ok(Self(nets))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address, given the TCP peer and the request's
    /// `X-Forwarded-For` value.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let Some(header) = forwarded_for else { return peer };
        let mut leftmost = None;
        for hop in header.rsplit(',').map(str::trim) {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                // Garbage a client put in front of our proxies' entries: the
                // last address a trusted proxy vouched for stands.
                return leftmost.unwrap_or(peer);
            };
            if !self.contains(ip) {
                return ip;
            }
            leftmost = Some(ip);
        }
        leftmost.unwrap_or(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let env = Env::from_pairs(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7, fd00::/8")]);
        let trusted = TrustedProxies::from_env(&env).unwrap();
        // A client talking to us directly cannot choose its address.
        assert_eq!(trusted.client_ip(ip("203.0.113.9"), Some("1.2.3.4")), ip("203.0.113.9"));
        // Behind our proxies: the rightmost hop they did not add.
        assert_eq!(trusted.client_ip(ip("10.1.1.1"), Some("1.2.3.4, 198.51.100.7, 10.2.2.2")), ip("198.51.100.7"));
        assert_eq!(trusted.client_ip(ip("192.168.1.7"), Some("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(trusted.client_ip(ip("fd00::1"), Some("2001:db8::5")), ip("2001:db8::5"));
        // No header, or only our own hops, or garbage in front of them.
        assert_eq!(trusted.client_ip(ip("10.1.1.1"), None), ip("10.1.1.1"));
        assert_eq!(trusted.client_ip(ip("10.1.1.1"), Some("10.3.3.3")), ip("10.3.3.3"));
        assert_eq!(trusted.client_ip(ip("10.1.1.1"), Some("not-an-ip, 10.3.3.3")), ip("10.3.3.3"));
        // Nothing is trusted by default.
        let none = TrustedProxies::from_env(&Env::from_pairs(&[])).unwrap();
        assert_eq!(none.client_ip(ip("127.0.0.1"), Some("1.2.3.4")), ip("127.0.0.1"));
        let bad = TrustedProxies::from_env(&Env::from_pairs(&[("TRUSTED_PROXIES", "10.0.0.0/99")]));
        assert_eq!(bad.unwrap_err().var, "TRUSTED_PROXIES");
    }
}
