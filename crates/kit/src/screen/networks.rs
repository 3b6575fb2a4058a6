//! Blocked and challenged networks, and whose quota an address counts
//! against (an IPv6 client's /64).

use super::*;

/// One blocked or challenged network of the replica.
#[derive(Debug, Clone)]
pub(super) struct Block {
    pub(super) net: IpNet,
    pub(super) reason: String,
    pub(super) expires_at: Option<DateTime<Utc>>,
    /// Puzzle size, for a challenged network.
    pub(super) difficulty: u64,
}

pub(super) fn parse_net(cidr: &str) -> Option<IpNet> {
    cidr.parse::<IpNet>().or_else(|_| cidr.parse::<IpAddr>().map(IpNet::from)).ok().map(|n| n.trunc())
}

/// IPv4 clients seen on an IPv6 socket count as IPv4.
pub(super) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Whose quota a request counts against: an IPv4 address, or an IPv6
/// client's /64 (one subscriber's network: every address of it is the
/// same client, so rotating through them does not multiply the quota).
pub(super) fn rate_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Networks indexed by prefix length: a lookup is one hash probe per
/// prefix length in use (a handful), however many networks there are.
#[derive(Default)]
pub(super) struct Networks {
    /// Most specific prefix first.
    pub(super) v4: Vec<(u8, HashMap<u32, Block>)>,
    pub(super) v6: Vec<(u8, HashMap<u128, Block>)>,
}

pub(super) fn mask4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

pub(super) fn mask6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

impl Networks {
    pub(super) fn build(blocks: Vec<Block>) -> Self {
        let mut v4: HashMap<u8, HashMap<u32, Block>> = HashMap::new();
        let mut v6: HashMap<u8, HashMap<u128, Block>> = HashMap::new();
        for b in blocks {
            match b.net {
                IpNet::V4(n) => {
                    v4.entry(n.prefix_len()).or_default().insert(u32::from(n.network()), b);
                }
                IpNet::V6(n) => {
                    v6.entry(n.prefix_len()).or_default().insert(u128::from(n.network()), b);
                }
            }
        }
        let mut v4: Vec<_> = v4.into_iter().collect();
        let mut v6: Vec<_> = v6.into_iter().collect();
        v4.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        v6.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        Self { v4, v6 }
    }

    pub(super) fn len(&self) -> usize {
        self.v4.iter().map(|(_, m)| m.len()).sum::<usize>() + self.v6.iter().map(|(_, m)| m.len()).sum::<usize>()
    }

    /// The entry covering `ip` that is still in force.
    pub(super) fn find(&self, ip: IpAddr) -> Option<&Block> {
        let live = |b: &&Block| b.expires_at.is_none_or(|t| t > Utc::now());
        match canonical(ip) {
            IpAddr::V4(v4) => {
                let ip = u32::from(v4);
                self.v4.iter().find_map(|(len, map)| map.get(&(ip & mask4(*len))).filter(live))
            }
            IpAddr::V6(v6) => {
                let ip = u128::from(v6);
                self.v6.iter().find_map(|(len, map)| map.get(&(ip & mask6(*len))).filter(live))
            }
        }
    }
}
