//! Where one event's deliveries stand, per target: what the operator asks
//! first ("where did my event go?"). Read-only: it combines the pending owner
//! (still owed), the attempt history (what was tried), the dead-letter queues
//! (the letter an attempt buried it in) and the catalog (names; whether the
//! target's rule matches the event today).
//!
//! Precedence: a pending entry is the truth while it exists; otherwise the last
//! recorded attempt says delivered or dead-lettered. A target whose rule
//! matches the event now but has nothing recorded is `unrouted` (the router
//! has not reached the event), `expired` (the event is older than the history
//! retention) or `unknown`.

use std::collections::BTreeSet;

use serde::Serialize;

use super::Inner;
use crate::attempts::{AttemptRecord, Attempts};
use crate::catalog::Snapshot;
use crate::event::{Event, Seq, format_time_millis};
use crate::pending::PendingDelivery;
use crate::store::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    DeadLettered,
    Unrouted,
    Expired,
    Unknown,
}

/// One target's delivery of the event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryTrace {
    /// Names are `None` for a removed target that left no dead letter.
    pub rule: Option<String>,
    pub rule_arn: Option<String>,
    pub target_id: Option<String>,
    pub target_arn: Option<String>,
    pub target_uid: String,
    /// The target is no longer in the catalog.
    pub target_removed: bool,
    pub state: DeliveryState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// Failed attempts so far (pending; counted afresh after a redrive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_made: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<LetterRef>,
    /// Why the state is what it is, when it is not plain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    /// The kept attempts, oldest first.
    pub attempts: Vec<AttemptView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LetterRef {
    pub id: String,
    pub queue: String,
    /// False once the letter was purged.
    pub in_queue: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    /// Numbered from 1 per (target, event); the oldest may have been dropped.
    pub attempt: u32,
    pub at: String,
    /// `delivered` or `failed`.
    pub outcome: &'static str,
    pub error_code: Option<String>,
    pub status: Option<u16>,
    pub latency_ms: Option<u32>,
    pub error_message: Option<String>,
}

impl AttemptView {
    fn new(attempt: u32, record: &AttemptRecord) -> AttemptView {
        AttemptView {
            attempt,
            at: format_time_millis(record.at_ms),
            outcome: if record.delivered() {
                "delivered"
            } else {
                "failed"
            },
            error_code: record.code.clone(),
            status: record.status,
            latency_ms: record.latency_ms,
            error_message: record.error.clone(),
        }
    }
}

/// The event's deliveries and whether the router has reached it yet.
pub struct Trace {
    pub routed: bool,
    pub deliveries: Vec<DeliveryTrace>,
}

const NOTE_UNROUTED: &str = "the router has not reached this event yet";
const NOTE_EXPIRED: &str =
    "the rule matches this event, and any attempts are older than the history retention";
const NOTE_UNKNOWN: &str = "the rule matches this event but no delivery is recorded: the target may have been added after the event was routed, or attempt history is off";
const NOTE_DROPPED: &str = "no longer owed after a failed attempt: the target was removed, or the event could not be read, or the last attempt was not recorded";

pub(super) fn trace(inner: &Inner, seq: Seq, event: &Event) -> Result<Trace, StoreError> {
    let snapshot = inner.catalog.snapshot();
    let mut history = inner.history.of_event(seq)?;
    let routed = seq < inner.pending.position()?;
    let mut uids: BTreeSet<u64> = history.keys().copied().collect();
    uids.extend(
        snapshot
            .targets
            .iter()
            .filter(|(_, route)| route.bus == event.fields.bus)
            .map(|(uid, _)| *uid),
    );
    let matched: BTreeSet<u64> = snapshot
        .route(&event.fields.bus, event.to_envelope_json().as_bytes())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let now = inner.clock.now_ms();
    let mut deliveries = Vec::new();
    for uid in uids {
        let attempts = history.remove(&uid).unwrap_or_default();
        let pending = inner.pending.get(uid, seq)?;
        if attempts.is_empty() && pending.is_none() && !matched.contains(&uid) {
            continue; // another rule's target, not for this event
        }
        let mut traced = describe(inner, &snapshot, uid, &attempts, pending.as_ref(), now)?;
        if traced.state == DeliveryState::Unknown && attempts.is_empty() {
            let expired = event.fields.ingested_ms < now - inner.history.retention_ms();
            (traced.state, traced.note) = match (routed, expired) {
                (false, _) => (DeliveryState::Unrouted, Some(NOTE_UNROUTED)),
                (true, true) => (DeliveryState::Expired, Some(NOTE_EXPIRED)),
                (true, false) => (DeliveryState::Unknown, Some(NOTE_UNKNOWN)),
            };
        }
        deliveries.push(traced);
    }
    deliveries.sort_by(|a, b| {
        (a.target_removed, &a.rule, &a.target_id, &a.target_uid).cmp(&(
            b.target_removed,
            &b.rule,
            &b.target_id,
            &b.target_uid,
        ))
    });
    Ok(Trace { routed, deliveries })
}

/// One target's state from what is recorded.
fn describe(
    inner: &Inner,
    snapshot: &Snapshot,
    uid: u64,
    attempts: &Attempts,
    pending: Option<&PendingDelivery>,
    now: i64,
) -> Result<DeliveryTrace, StoreError> {
    let route = snapshot.targets.get(&uid);
    let mut traced = DeliveryTrace {
        rule: route.map(|r| r.rule.clone()),
        rule_arn: route.map(|r| r.rule_arn.clone()),
        target_id: route.map(|r| r.target.id.clone()),
        target_arn: route.map(|r| r.target.arn.clone()),
        target_uid: uid.to_string(),
        target_removed: route.is_none(),
        state: DeliveryState::Unknown,
        delivered_at: None,
        next_attempt_at: None,
        attempts_made: None,
        dead_letter: None,
        note: None,
        attempts: attempts
            .iter()
            .map(|(n, record)| AttemptView::new(*n, record))
            .collect(),
    };
    let last = attempts.last().map(|(_, record)| record);
    if let Some(owed) = pending {
        traced.state = DeliveryState::Pending;
        traced.next_attempt_at = Some(format_time_millis(owed.due_ms.max(now)));
        traced.attempts_made = Some(owed.attempts);
    } else if let Some(record) = last.filter(|r| r.delivered()) {
        traced.state = DeliveryState::Delivered;
        let took = i64::from(record.latency_ms.unwrap_or(0));
        traced.delivered_at = Some(format_time_millis(record.at_ms + took));
    } else if let Some(buried) = last.and_then(|r| r.dead_letter.as_ref()) {
        traced.state = DeliveryState::DeadLettered;
        let letter = inner.dead_letters.get(buried.id)?;
        if let (None, Some(letter)) = (route, &letter) {
            traced.rule = Some(letter.rule.clone());
            traced.rule_arn = Some(letter.rule_arn.clone());
            traced.target_id = Some(letter.target_id.clone());
            traced.target_arn = Some(letter.target_arn.clone());
        }
        traced.dead_letter = Some(LetterRef {
            id: buried.id.to_string(),
            queue: buried.queue.clone(),
            in_queue: letter.is_some(),
        });
    } else if last.is_some() {
        traced.note = Some(NOTE_DROPPED);
    }
    Ok(traced)
}
