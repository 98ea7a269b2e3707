//! IP addresses and CIDR blocks for the `cidr` operator.
//!
//! Addresses become integers (IPv4 in a `u32`-sized space, IPv6 in `u128`), a
//! block becomes the inclusive range of addresses it covers. The two families
//! never match each other. Parsing is `std::net`'s; this file does not
//! normalise textual forms for exact matching.

use std::net::IpAddr;

/// An address family and its integer value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Ip {
    V4(u128),
    V6(u128),
}

/// An inclusive range of addresses of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct CidrBlock {
    pub(crate) v6: bool,
    pub(crate) low: u128,
    pub(crate) high: u128,
}

/// Parses an IP address the way an event value is read for `cidr` matching.
pub(crate) fn parse_ip(text: &str) -> Option<Ip> {
    match text.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => Some(Ip::V4(u128::from(u32::from(v4)))),
        IpAddr::V6(v6) => Some(Ip::V6(u128::from(v6))),
    }
}

impl CidrBlock {
    /// The block holding just `ip`.
    pub(crate) fn single(ip: Ip) -> CidrBlock {
        match ip {
            Ip::V4(v) => CidrBlock {
                v6: false,
                low: v,
                high: v,
            },
            Ip::V6(v) => CidrBlock {
                v6: true,
                low: v,
                high: v,
            },
        }
    }
}

/// Parses `address/prefix-length`; host bits below the prefix are ignored.
pub(crate) fn parse_cidr(text: &str) -> Option<CidrBlock> {
    let (address, bits) = text.split_once('/')?;
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) || bits.len() > 3 {
        return None;
    }
    let bits: u32 = bits.parse().ok()?;
    let (v6, value, width) = match parse_ip(address)? {
        Ip::V4(v) => (false, v, 32),
        Ip::V6(v) => (true, v, 128),
    };
    if bits > width {
        return None;
    }
    let host_bits = width - bits;
    let host_mask: u128 = if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    Some(CidrBlock {
        v6,
        low: value & !host_mask,
        high: value | host_mask,
    })
}

#[cfg(test)]
impl CidrBlock {
    pub(crate) fn contains(&self, ip: Ip) -> bool {
        match ip {
            Ip::V4(v) => !self.v6 && self.low <= v && v <= self.high,
            Ip::V6(v) => self.v6 && self.low <= v && v <= self.high,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_block_covers_its_range() {
        let block = parse_cidr("10.0.0.0/24").expect("valid");
        assert!(block.contains(parse_ip("10.0.0.255").expect("ip")));
        assert!(!block.contains(parse_ip("10.0.1.0").expect("ip")));
        assert!(!block.contains(parse_ip("::ffff:10.0.0.1").expect("ip")));
    }

    #[test]
    fn ipv6_block_and_edges() {
        let block = parse_cidr("2001:db8::/32").expect("valid");
        assert!(block.contains(parse_ip("2001:db8:ffff::1").expect("ip")));
        assert!(!block.contains(parse_ip("2001:db9::").expect("ip")));
        assert!(
            parse_cidr("::/0")
                .expect("valid")
                .contains(parse_ip("::1").expect("ip"))
        );
        assert!(parse_cidr("0.0.0.0/0").is_some());
    }

    #[test]
    fn rejects_malformed_blocks() {
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.0/",
            "::/129",
            "x/8",
            "1.2.3.4/+8",
        ] {
            assert!(parse_cidr(bad).is_none(), "{bad}");
        }
    }
}
