//! What a publisher key may do, parsed and checked: allowed sources and detail
//! types (exact names or `*` wildcards such as `Order*`), a rate (`100/s`), a
//! daily quota (`1000000/day`) and allowed networks (CIDR). Pure: no clock, no
//! store; `Grant::parse` validates the operator's text once, the checks are
//! plain functions of the parsed grant.

use std::net::IpAddr;
use std::num::{NonZeroU32, NonZeroU64};

use ipnet::IpNet;

/// The most patterns of each kind and networks a key may list.
pub const MAX_ENTRIES: usize = 100;
/// The longest pattern (EventBridge's Source and DetailType are at most 256).
const MAX_PATTERN_CHARS: usize = 256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GrantError {
    #[error("{field}: at least one is required")]
    Empty { field: &'static str },
    #[error("{field}: at most {MAX_ENTRIES} are allowed")]
    TooMany { field: &'static str },
    #[error("{field}: {value:?} is not a name or a `*` pattern of 1 to 256 visible characters")]
    BadPattern { field: &'static str, value: String },
    #[error("rate: {value:?} is not N/s or N/min with N ≥ 1 (e.g. 100/s)")]
    BadRate { value: String },
    #[error("quota: {value:?} is not N/day with N ≥ 1 (e.g. 1000000/day)")]
    BadQuota { value: String },
    #[error("networks: {value:?} is not an IP address or a CIDR block (e.g. 10.0.0.0/8)")]
    BadNetwork { value: String },
}

/// A name, or a pattern where `*` stands for any run of characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamePattern(String);

impl NamePattern {
    pub fn parse(field: &'static str, text: &str) -> Result<NamePattern, GrantError> {
        let ok = !text.is_empty()
            && text.chars().count() <= MAX_PATTERN_CHARS
            && !text.chars().any(char::is_control);
        if ok {
            Ok(NamePattern(text.to_string()))
        } else {
            Err(GrantError::BadPattern {
                field,
                value: text.to_string(),
            })
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        glob(self.0.as_bytes(), name.as_bytes())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `*`-only glob, iterative with one backtrack point: linear in practice, never
/// exponential.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Events per second a key may publish, averaged: `per_second` with a burst of
/// `burst` (one second's worth).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub events: NonZeroU32,
    pub per_seconds: NonZeroU32,
}

impl Rate {
    pub fn parse(text: &str) -> Result<Rate, GrantError> {
        let bad = || GrantError::BadRate {
            value: text.to_string(),
        };
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let events: NonZeroU32 = count.trim().parse().map_err(|_| bad())?;
        let per_seconds = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            _ => return Err(bad()),
        };
        Ok(Rate {
            events,
            per_seconds: NonZeroU32::new(per_seconds).ok_or_else(bad)?,
        })
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = if self.per_seconds.get() == 60 {
            "min"
        } else {
            "s"
        };
        write!(f, "{}/{unit}", self.events)
    }
}

/// Events a key may publish per UTC day.
pub fn parse_quota(text: &str) -> Result<NonZeroU64, GrantError> {
    let bad = || GrantError::BadQuota {
        value: text.to_string(),
    };
    let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
    if !matches!(unit.trim(), "day" | "d") {
        return Err(bad());
    }
    count.trim().parse().map_err(|_| bad())
}

/// An address or CIDR block; a bare address is a /32 (or /128).
pub fn parse_network(text: &str) -> Result<IpNet, GrantError> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| GrantError::BadNetwork {
            value: text.to_string(),
        })
}

/// A key's permissions, parsed.
#[derive(Clone, Debug)]
pub struct Grant {
    pub sources: Vec<NamePattern>,
    pub detail_types: Vec<NamePattern>,
    pub rate: Option<Rate>,
    pub quota_per_day: Option<NonZeroU64>,
    /// Empty: any network.
    pub networks: Vec<IpNet>,
}

/// The operator's text of a grant, as sent and as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GrantText {
    pub sources: Vec<String>,
    pub detail_types: Vec<String>,
    pub rate: Option<String>,
    pub quota: Option<String>,
    pub networks: Vec<String>,
}

/// Why one event is refused by a key's grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryRefusal {
    Source,
    DetailType,
}

impl Grant {
    /// Validates every field; an empty detail type list means `*`.
    pub fn parse(text: &GrantText) -> Result<Grant, GrantError> {
        let patterns = |field: &'static str, list: &[String]| {
            if list.len() > MAX_ENTRIES {
                return Err(GrantError::TooMany { field });
            }
            list.iter()
                .map(|p| NamePattern::parse(field, p))
                .collect::<Result<Vec<_>, _>>()
        };
        let sources = patterns("sources", &text.sources)?;
        if sources.is_empty() {
            return Err(GrantError::Empty { field: "sources" });
        }
        let mut detail_types = patterns("detail_types", &text.detail_types)?;
        if detail_types.is_empty() {
            detail_types.push(NamePattern("*".into()));
        }
        if text.networks.len() > MAX_ENTRIES {
            return Err(GrantError::TooMany { field: "networks" });
        }
        Ok(Grant {
            sources,
            detail_types,
            rate: text.rate.as_deref().map(Rate::parse).transpose()?,
            quota_per_day: text.quota.as_deref().map(parse_quota).transpose()?,
            networks: text
                .networks
                .iter()
                .map(|n| parse_network(n))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The canonical text (normalised rate, quota and networks) to store.
    pub fn text(&self) -> GrantText {
        GrantText {
            sources: self.sources.iter().map(|p| p.0.clone()).collect(),
            detail_types: self.detail_types.iter().map(|p| p.0.clone()).collect(),
            rate: self.rate.map(|r| r.to_string()),
            quota: self.quota_per_day.map(|q| format!("{q}/day")),
            networks: self.networks.iter().map(ToString::to_string).collect(),
        }
    }

    pub fn allows(&self, source: &str, detail_type: &str) -> Result<(), EntryRefusal> {
        if !self.sources.iter().any(|p| p.matches(source)) {
            return Err(EntryRefusal::Source);
        }
        if !self.detail_types.iter().any(|p| p.matches(detail_type)) {
            return Err(EntryRefusal::DetailType);
        }
        Ok(())
    }

    pub fn allows_peer(&self, peer: Option<IpAddr>) -> bool {
        if self.networks.is_empty() {
            return true;
        }
        let Some(peer) = peer else { return false };
        // An IPv4 peer may arrive mapped into IPv6 on a dual-stack socket.
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.networks.iter().any(|n| n.contains(&peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sources: &[&str], detail_types: &[&str]) -> GrantText {
        GrantText {
            sources: sources.iter().map(|s| s.to_string()).collect(),
            detail_types: detail_types.iter().map(|s| s.to_string()).collect(),
            ..GrantText::default()
        }
    }

    #[test]
    fn wildcards_match_runs_of_characters() {
        let p = NamePattern::parse("x", "Order*").expect("valid");
        assert!(p.matches("Order"));
        assert!(p.matches("OrderPlaced"));
        assert!(!p.matches("order"));
        assert!(!p.matches("AnOrder"));
        let p = NamePattern::parse("x", "com.*.orders").expect("valid");
        assert!(p.matches("com.acme.orders"));
        assert!(!p.matches("com.acme.orders.v2"));
        assert!(NamePattern::parse("x", "*").expect("valid").matches(""));
        assert!(NamePattern::parse("x", "").is_err());
    }

    #[test]
    fn a_grant_refuses_the_source_before_the_detail_type() {
        let grant = Grant::parse(&text(&["com.external.orders"], &["Order*"])).expect("valid");
        assert_eq!(grant.allows("com.external.orders", "OrderPlaced"), Ok(()));
        assert_eq!(
            grant.allows("com.other", "OrderPlaced"),
            Err(EntryRefusal::Source)
        );
        assert_eq!(
            grant.allows("com.external.orders", "Refund"),
            Err(EntryRefusal::DetailType)
        );
        let any_type = Grant::parse(&text(&["s"], &[])).expect("valid");
        assert_eq!(any_type.allows("s", "whatever"), Ok(()));
        assert_eq!(
            Grant::parse(&text(&[], &["x"])).err(),
            Some(GrantError::Empty { field: "sources" })
        );
    }

    #[test]
    fn rates_quotas_and_networks_parse_or_say_why_not() {
        assert_eq!(Rate::parse("100/s").expect("valid").to_string(), "100/s");
        assert_eq!(Rate::parse("6/min").expect("valid").per_seconds.get(), 60);
        for bad in ["0/s", "fast", "10/hour", "-1/s", "/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_quota("1000000/day").expect("valid").get(), 1_000_000);
        assert!(parse_quota("10/week").is_err());
        assert_eq!(
            parse_network("10.1.2.3/8").expect("valid").to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("127.0.0.1").expect("valid").to_string(),
            "127.0.0.1/32"
        );
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("nope").is_err());
    }

    #[test]
    fn networks_bound_the_peer() {
        let mut t = text(&["s"], &[]);
        t.networks = vec!["10.0.0.0/8".into()];
        let grant = Grant::parse(&t).expect("valid");
        assert!(grant.allows_peer(Some("10.9.8.7".parse().expect("ip"))));
        assert!(grant.allows_peer(Some("::ffff:10.9.8.7".parse().expect("ip"))));
        assert!(!grant.allows_peer(Some("127.0.0.1".parse().expect("ip"))));
        assert!(!grant.allows_peer(None));
        assert!(
            Grant::parse(&text(&["s"], &[]))
                .expect("valid")
                .allows_peer(None)
        );
    }

    /// A naive reference: try every split at every `*`.
    fn reference(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len()).any(|i| reference(rest, &text[i..])),
            Some((c, rest)) => text.first() == Some(c) && reference(rest, &text[1..]),
        }
    }

    proptest::proptest! {
        #[test]
        fn glob_agrees_with_the_reference(pattern in "[ab*]{0,8}", text in "[ab]{0,10}") {
            proptest::prop_assert_eq!(glob(pattern.as_bytes(), text.as_bytes()), reference(pattern.as_bytes(), text.as_bytes()));
        }
    }
}
