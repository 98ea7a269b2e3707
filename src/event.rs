//! The Event: what the log stores and what targets receive.
//!
//! Owns the event's identity (`EventId`, `Seq`), its stored form, and its rendering
//! as the EventBridge JSON envelope. Wire formats that *produce* events (the gateway
//! envelope, PutEvents entries) live in `api/`; this module only knows the result.

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// An event's id: a version-8 UUID that carries the event's sequence number.
///
/// Layout: the first 8 bytes are random (60 bits once the version nibble is set),
/// the last 8 bytes are the sequence number (62 bits once the variant bits are
/// set). The id is thereby its own index entry: looking an event up decodes the
/// sequence number and checks that the record there has this id. Measured, a
/// separate id→seq tree cost half of the log writer's CPU per event (sled
/// inserts with random keys); see docs/performance.md. The random half keeps ids
/// unguessable from positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventId(uuid::Uuid);

/// Sequence numbers an id can carry: 62 bits.
pub const MAX_SEQ: u64 = (1 << 62) - 1;

impl EventId {
    /// The id of the event stored at `seq` (at most `MAX_SEQ`), with fresh randomness.
    pub fn for_seq(seq: Seq) -> Self {
        let (random, _) = uuid::Uuid::new_v4().as_u64_pair();
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&random.to_be_bytes());
        bytes[8..].copy_from_slice(&(seq.0 & MAX_SEQ).to_be_bytes());
        EventId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// The sequence number this id carries; `None` for a UUID Stowage did not issue.
    pub fn seq(&self) -> Option<Seq> {
        if self.0.get_version_num() != 8 {
            return None;
        }
        let (_, low) = self.0.as_u64_pair();
        Some(Seq(low & MAX_SEQ))
    }

    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::try_parse(s).ok().map(EventId)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A position in the log. Monotonic across restarts, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Seq(pub u64);

impl Seq {
    /// The sled key: big-endian, so that key order is log order.
    pub fn to_key(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    pub fn from_key(key: &[u8]) -> Option<Self> {
        <[u8; 8]>::try_from(key)
            .ok()
            .map(|b| Seq(u64::from_be_bytes(b)))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An event as a publisher gave it: everything but the id, which the log assigns
/// together with the sequence number.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub bus: String,
    pub source: String,
    pub detail_type: String,
    /// The event's `time`, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// When Stowage accepted it, in milliseconds since the Unix epoch.
    pub ingested_ms: i64,
    pub account: String,
    pub region: String,
    pub resources: Vec<String>,
    /// The `detail` object as the publisher sent it: validated JSON text, kept
    /// verbatim so that nothing is lost or reordered.
    pub detail: String,
    /// Set on an event a replay appended. Not part of the v1 record encoding
    /// (skipped by serde): the log writes marked events as v2 frames,
    /// `(Event, ReplayMark)`, so every v1 record still decodes unchanged.
    #[serde(skip)]
    pub replay: Option<ReplayMark>,
}

/// What makes a log record a replayed event: the replay that appended it and
/// which archived record it copies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayMark {
    /// The replay's name (`"replay-name"` in the envelope).
    pub name: String,
    /// Chosen when the replay started: tells this replay's records from those
    /// of an earlier replay of the same name.
    pub replay_id: u64,
    /// The archived record this one replays.
    pub original: Seq,
    /// The archived record's id.
    pub original_id: EventId,
}

impl NewEvent {
    pub fn into_event(self, id: EventId) -> Event {
        Event { id, fields: self }
    }
}

/// An accepted event as stored in the log: its id, then the publisher's fields
/// (bincode writes a nested struct's fields inline, in order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub fields: NewEvent,
}

/// The EventBridge envelope, borrowed from an `Event` for rendering.
#[derive(Serialize)]
struct Envelope<'a> {
    version: &'static str,
    id: String,
    #[serde(rename = "detail-type")]
    detail_type: &'a str,
    source: &'a str,
    account: &'a str,
    time: String,
    region: &'a str,
    resources: &'a [String],
    detail: &'a RawValue,
    #[serde(rename = "replay-name", skip_serializing_if = "Option::is_none")]
    replay_name: Option<&'a str>,
}

impl Event {
    /// The name of the replay that appended this event, if one did.
    pub fn replay_name(&self) -> Option<&str> {
        self.fields.replay.as_ref().map(|mark| mark.name.as_str())
    }

    /// Renders the EventBridge JSON envelope (`version`, `id`, `detail-type`,
    /// `source`, `account`, `time`, `region`, `resources`, `detail`, and
    /// `replay-name` for a replayed event).
    pub fn to_envelope_json(&self) -> String {
        let fields = &self.fields;
        let detail: &RawValue =
            serde_json::from_str(&fields.detail).unwrap_or_else(|_| empty_object());
        let envelope = Envelope {
            version: "0",
            id: self.id.to_string(),
            detail_type: &fields.detail_type,
            source: &fields.source,
            account: &fields.account,
            time: format_time(fields.time_ms),
            region: &fields.region,
            resources: &fields.resources,
            detail,
            replay_name: self.replay_name(),
        };
        serde_json::to_string(&envelope).expect("an envelope of strings and raw JSON serializes")
    }
}

fn empty_object() -> &'static RawValue {
    serde_json::from_str("{}").expect("{} is JSON")
}

/// Formats milliseconds since the epoch as EventBridge does: RFC 3339, seconds, `Z`.
pub fn format_time(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `format_time` to the millisecond, for delivery attempts a few ms apart.
pub fn format_time_millis(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Deepest nesting of objects and arrays an event may have.
pub const MAX_JSON_DEPTH: usize = 100;

/// True when `json` nests objects/arrays deeper than `max`. A linear scan that
/// jumps through strings with memchr (event bodies are mostly string content);
/// the caller still validates the JSON itself.
pub fn nesting_exceeds(json: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                // Skip to the closing quote, stepping over escapes.
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &json[i.min(json.len())..]) {
                        Some(at) if json[i + at] == b'\\' => i += at + 2,
                        Some(at) => {
                            i += at;
                            break;
                        }
                        None => return false,
                    }
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        NewEvent {
            bus: "default".into(),
            source: "com.example".into(),
            detail_type: "OrderPlaced".into(),
            time_ms: 1_700_000_000_123,
            ingested_ms: 1_700_000_000_500,
            account: "000000000000".into(),
            region: "us-east-1".into(),
            resources: vec!["arn:x".into()],
            detail: r#"{"b":1,"a":[true,null]}"#.into(),
            replay: None,
        }
        .into_event(EventId::for_seq(Seq(3)))
    }

    #[test]
    fn a_replayed_event_adds_replay_name_at_the_top_level() {
        let mut e = event();
        assert!(!e.to_envelope_json().contains("replay-name"));
        e.fields.replay = Some(ReplayMark {
            name: "r1".into(),
            replay_id: 9,
            original: Seq(1),
            original_id: EventId::for_seq(Seq(1)),
        });
        let json: serde_json::Value =
            serde_json::from_str(&e.to_envelope_json()).expect("envelope is JSON");
        assert_eq!(json["replay-name"], "r1");
        assert_eq!(json["detail"]["b"], 1);
    }

    #[test]
    fn envelope_has_eventbridge_fields_and_verbatim_detail() {
        let e = event();
        let json: serde_json::Value =
            serde_json::from_str(&e.to_envelope_json()).expect("envelope is JSON");
        assert_eq!(json["version"], "0");
        assert_eq!(json["id"], e.id.to_string());
        assert_eq!(json["detail-type"], "OrderPlaced");
        assert_eq!(json["source"], "com.example");
        assert_eq!(json["time"], "2023-11-14T22:13:20Z");
        assert_eq!(json["resources"][0], "arn:x");
        assert!(
            e.to_envelope_json()
                .ends_with(r#""detail":{"b":1,"a":[true,null]}}"#)
        );
    }

    #[test]
    fn nesting_depth_counts_containers_not_strings() {
        assert!(!nesting_exceeds(br#"{"a":[{"b":"[[[[["}]}"#, 3));
        assert!(nesting_exceeds(br#"{"a":[{"b":[1]}]}"#, 3));
        assert!(!nesting_exceeds(br#"{"a":"\"[[[["}"#, 1));
    }

    /// The plain definition, byte by byte.
    fn nesting_exceeds_reference(json: &[u8], max: usize) -> bool {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for &b in json {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
            } else if b == b'"' {
                in_string = true;
            } else if b == b'{' || b == b'[' {
                depth += 1;
                if depth > max {
                    return true;
                }
            } else if b == b'}' || b == b']' {
                depth = depth.saturating_sub(1);
            }
        }
        false
    }

    proptest::proptest! {
        #[test]
        fn nesting_scan_agrees_with_the_byte_loop(json in "[\\[\\]{}\"\\\\ax]{0,64}", max in 0usize..6) {
            proptest::prop_assert_eq!(nesting_exceeds(json.as_bytes(), max), nesting_exceeds_reference(json.as_bytes(), max));
        }
    }

    #[test]
    fn seq_keys_sort_in_log_order() {
        assert!(Seq(255).to_key() < Seq(256).to_key());
        assert_eq!(Seq::from_key(&Seq(42).to_key()), Some(Seq(42)));
        assert_eq!(Seq::from_key(b"short"), None);
    }

    #[test]
    fn event_ids_parse_their_display() {
        let id = EventId::for_seq(Seq(7));
        assert_eq!(EventId::parse(&id.to_string()), Some(id));
        assert_eq!(EventId::parse("nope"), None);
    }

    #[test]
    fn event_ids_carry_their_sequence_number_and_differ_for_one_seq() {
        for seq in [0, 1, 255, 1 << 40, MAX_SEQ] {
            let id = EventId::for_seq(Seq(seq));
            assert_eq!(id.seq(), Some(Seq(seq)));
            assert_ne!(id, EventId::for_seq(Seq(seq)), "the random half differs");
            assert!(id.to_string().as_bytes()[14] == b'8', "version 8: {id}");
        }
        let v4 = EventId::parse("5ed6b0c5-3ac4-444a-b6c6-809c47655193").expect("a uuid");
        assert_eq!(v4.seq(), None);
    }
}
