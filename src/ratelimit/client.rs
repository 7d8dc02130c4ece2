//! Who a client is, for rate limiting: its authenticated identity, else its
//! address. `X-Forwarded-For` is believed only when the connection comes from
//! a configured proxy, and then only up to the first address not in that list
//! (read from the right), so a client cannot pick its own key.

use std::net::IpAddr;

use http::{HeaderMap, HeaderValue};

/// The key a client's requests are counted under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    Subject(HeaderValue),
    Ip(IpAddr),
}

/// Addresses (single or CIDR) whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// Parses `10.0.0.0/8`, `192.0.2.7`, `::1`, `fd00::/8`.
    pub fn parse(list: &[String]) -> Result<TrustedProxies, String> {
        let nets = list.iter().map(|s| parse_net(s.trim())).collect::<Result<_, _>>()?;
        Ok(TrustedProxies { nets })
    }

    /// True when `ip` is in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|(net, bits)| in_net(ip, *net, *bits))
    }

    /// The client address: the peer, or, from a trusted peer, the rightmost
    /// `X-Forwarded-For` address that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        for value in headers.get_all("x-forwarded-for").iter().rev() {
            let Ok(text) = value.to_str() else { return client };
            for hop in text.rsplit(',') {
                let Ok(ip) = hop.trim().parse::<IpAddr>() else { return client };
                client = ip;
                if !self.contains(ip) {
                    return ip;
                }
            }
        }
        client
    }
}

fn parse_net(value: &str) -> Result<(IpAddr, u8), String> {
    let bad = || format!("expected an IP address or CIDR network, got {value:?}");
    let (addr, bits) = match value.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
        None => (value, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    if bits > max {
        return Err(bad());
    }
    Ok((ip, bits))
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            prefix_eq(u128::from(u32::from(a)) << 96, u128::from(u32::from(n)) << 96, bits)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => prefix_eq(u128::from(a), u128::from(n), bits),
        (IpAddr::V6(a), IpAddr::V4(_)) => a.to_ipv4_mapped().is_some_and(|v4| in_net(IpAddr::V4(v4), net, bits)),
        _ => false,
    }
}

fn prefix_eq(a: u128, b: u128, bits: u8) -> bool {
    if bits == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - u32::from(bits));
    a & mask == b & mask
}

/// The network a client address is counted as: IPv4 and IPv4-mapped
/// addresses whole, IPv6 addresses by their first `v6_bits` bits.
pub fn network_of(ip: IpAddr, v6_bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u32::from(v6_bits.clamp(1, 128));
                let mask = u128::MAX << (128 - bits);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        },
    }
}
