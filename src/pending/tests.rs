//! The pending owner against a model: random sequences of routing, attempts,
//! completions, burials, redrives, purges and restarts (a reopened database)
//! must leave the tree saying exactly what the model says is owed.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::config::StorageConfig;
use crate::dead_letter::DeadLetters;
use crate::event::{Event, EventId, NewEvent};

/// Targets to draw from: small uids, the two around the router position's
/// first eight bytes (its key sorts among theirs), and the highest uid.
const UIDS: [u64; 5] = [0, 1, 0x726f_7574_6572_2d70, 0x726f_7574_6572_2d71, u64::MAX];

#[derive(Clone, Debug)]
enum Op {
    Route {
        owed: Vec<(usize, u64)>,
        advance: u64,
    },
    Reschedule {
        uid: usize,
        seq: u64,
        attempts: u32,
    },
    Complete {
        delivered: Vec<(usize, u64)>,
    },
    Bury {
        uid: usize,
        seq: u64,
    },
    Redrive {
        letter: usize,
        age_base_ms: i64,
    },
    Purge {
        uid: usize,
    },
    Restart,
}

fn delivery() -> impl Strategy<Value = (usize, u64)> {
    (0..UIDS.len(), 0u64..12)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (prop::collection::vec(delivery(), 0..6), 0u64..4)
            .prop_map(|(owed, advance)| Op::Route { owed, advance }),
        2 => (0..UIDS.len(), 0u64..12, 1u32..5)
            .prop_map(|(uid, seq, attempts)| Op::Reschedule { uid, seq, attempts }),
        2 => prop::collection::vec(delivery(), 0..5).prop_map(|delivered| Op::Complete { delivered }),
        2 => (0..UIDS.len(), 0u64..12).prop_map(|(uid, seq)| Op::Bury { uid, seq }),
        1 => (0usize..8, 0i64..1000).prop_map(|(letter, age_base_ms)| Op::Redrive { letter, age_base_ms }),
        1 => (0..UIDS.len()).prop_map(|uid| Op::Purge { uid }),
        1 => Just(Op::Restart),
    ]
}

#[derive(Default)]
struct Model {
    owed: BTreeMap<(u64, u64), PendingDelivery>,
    /// Letter id → (uid, seq).
    letters: BTreeMap<u64, (u64, u64)>,
    position: u64,
}

struct Subject {
    dir: tempfile::TempDir,
    pending: Option<PendingDeliveries>,
    letters: Option<DeadLetters>,
}

impl Subject {
    fn open(&mut self) {
        let config = StorageConfig {
            data_dir: self.dir.path().to_path_buf(),
            cache_capacity_bytes: 1 << 20,
            ..StorageConfig::default()
        };
        // sled's flusher thread lets go of the dropped database (and its file
        // lock) a moment after the last handle: retry for a bounded while.
        let mut tries = 0;
        let store = loop {
            match Store::open(&config) {
                Ok(store) => break Arc::new(store),
                Err(error) if tries < 250 => {
                    tries += 1;
                    let _ = error;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(error) => panic!("reopen the store: {error:?}"),
            }
        };
        self.pending = Some(PendingDeliveries::open(store.clone()).unwrap());
        self.letters = Some(DeadLetters::open(store).unwrap());
    }

    fn restart(&mut self) {
        // Every handle on the database goes before it is opened again.
        self.pending = None;
        self.letters = None;
        self.open();
    }

    fn pending(&self) -> &PendingDeliveries {
        self.pending.as_ref().unwrap()
    }
}

fn letter(uid: u64, seq: u64) -> DeadLetter {
    DeadLetter {
        id: 0,
        queue: "default".into(),
        event: Event {
            id: EventId::for_seq(Seq(seq)),
            fields: NewEvent::default(),
        },
        seq: Seq(seq),
        rule: "r".into(),
        rule_arn: "arn".into(),
        target_id: "t".into(),
        target_arn: "http://127.0.0.1:1/".into(),
        target_uid: uid,
        error_code: "HTTP_CLIENT_ERROR".into(),
        error_message: "400".into(),
        exhausted_retry_condition: None,
        attempts: 1,
        last_status: Some(400),
        last_response: None,
        age_base_ms: 0,
        dead_lettered_ms: 0,
    }
}

fn apply(op: &Op, model: &mut Model, subject: &mut Subject) {
    match op {
        Op::Route { owed, advance } => {
            let mut routed = Routed::default();
            for (uid, seq) in owed {
                let (uid, seq) = (UIDS[*uid], model.position + seq);
                let delivery = PendingDelivery::new(i64::try_from(seq).unwrap());
                routed.owe(uid, Seq(seq), &delivery);
                model.owed.insert((uid, seq), delivery);
            }
            model.position += advance;
            subject
                .pending()
                .record_routed(routed, Seq(model.position))
                .unwrap();
        }
        Op::Reschedule { uid, seq, attempts } => {
            let uid = UIDS[*uid];
            let delivery = PendingDelivery {
                attempts: *attempts,
                due_ms: 5,
                last_status: Some(503),
                last_error: Some("down".into()),
                age_base_ms: 1,
            };
            if let Some(owed) = model.owed.get_mut(&(uid, *seq)) {
                *owed = delivery.clone();
            }
            subject
                .pending()
                .reschedule(uid, Seq(*seq), &delivery)
                .unwrap();
        }
        Op::Complete { delivered } => {
            let delivered: Vec<(u64, Seq)> = delivered
                .iter()
                .map(|(uid, seq)| (UIDS[*uid], Seq(*seq)))
                .collect();
            for (uid, seq) in &delivered {
                model.owed.remove(&(*uid, seq.0));
            }
            subject.pending().complete(&delivered).unwrap();
        }
        Op::Bury { uid, seq } => {
            let uid = UIDS[*uid];
            // A worker only buries a delivery it holds, so an owed one.
            if model.owed.remove(&(uid, *seq)).is_some() {
                let id = subject.pending().bury(letter(uid, *seq)).unwrap();
                model.letters.insert(id, (uid, *seq));
            }
        }
        Op::Redrive {
            letter: index,
            age_base_ms,
        } => {
            let Some((&id, &(uid, seq))) = model.letters.iter().nth(*index) else {
                return;
            };
            // Redrive only reaches a letter whose delivery is not owed again
            // meanwhile (a re-routed event after a restart would be).
            if model.owed.contains_key(&(uid, seq)) {
                return;
            }
            let mut stored = letter(uid, seq);
            stored.id = id;
            assert!(subject.pending().redrive(&stored, *age_base_ms).unwrap());
            model.letters.remove(&id);
            model
                .owed
                .insert((uid, seq), PendingDelivery::new(*age_base_ms));
            // A letter already moved is not moved twice.
            assert!(!subject.pending().redrive(&stored, *age_base_ms).unwrap());
        }
        Op::Purge { uid } => {
            let uid = UIDS[*uid];
            let expected = model.owed.keys().filter(|(u, _)| *u == uid).count();
            model.owed.retain(|(u, _), _| *u != uid);
            let removed = subject.pending().purge_target(uid).unwrap();
            assert_eq!(removed, u64::try_from(expected).unwrap());
        }
        Op::Restart => subject.restart(),
    }
}

fn check(model: &Model, subject: &Subject) -> Result<(), TestCaseError> {
    let pending = subject.pending();
    prop_assert_eq!(pending.position().unwrap(), Seq(model.position));
    let mut owed_targets = Vec::new();
    for uid in UIDS {
        let expected: Vec<(Seq, PendingDelivery)> = model
            .owed
            .range((uid, 0)..=(uid, u64::MAX))
            .map(|((_, seq), d)| (Seq(*seq), d.clone()))
            .collect();
        prop_assert_eq!(&pending.scan(uid, Seq(0), usize::MAX).unwrap(), &expected);
        prop_assert_eq!(pending.backlog(uid), expected.len());
        let lowest = expected.first().map(|(seq, _)| *seq);
        prop_assert_eq!(pending.lowest_owed(uid).unwrap(), lowest);
        if let Some(seq) = lowest {
            owed_targets.push((uid, seq));
        }
        // A scan from the middle starts there.
        if let Some((middle, _)) = expected.get(expected.len() / 2) {
            let from_middle = pending.scan(uid, *middle, 2).unwrap();
            prop_assert_eq!(
                &from_middle[..],
                &expected[expected.len() / 2..][..from_middle.len()]
            );
        }
        for seq in 0..12 {
            prop_assert_eq!(
                pending.get(uid, Seq(seq)).unwrap(),
                model.owed.get(&(uid, seq)).cloned()
            );
        }
    }
    prop_assert_eq!(pending.owed_targets().unwrap(), owed_targets.clone());
    prop_assert_eq!(
        pending.lowest_owed_overall().unwrap(),
        owed_targets.iter().map(|(_, seq)| *seq).min()
    );
    let letters = subject.letters.as_ref().unwrap();
    let (stored, more) = letters
        .list(&crate::dead_letter::Filter::default(), None, usize::MAX)
        .unwrap();
    prop_assert!(!more);
    let stored: BTreeMap<u64, (u64, u64)> = stored
        .into_iter()
        .map(|l| (l.id, (l.target_uid, l.seq.0)))
        .collect();
    prop_assert_eq!(&stored, &model.letters);
    // The seq index answers the lowest record any letter holds.
    prop_assert_eq!(
        letters.lowest_held().unwrap().map(|(seq, _)| seq),
        model.letters.values().map(|(_, seq)| Seq(*seq)).min()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn pending_owner_agrees_with_a_model_across_restarts(
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let mut subject = Subject {
            dir: tempfile::tempdir().unwrap(),
            pending: None,
            letters: None,
        };
        subject.open();
        let mut model = Model::default();
        for op in &ops {
            apply(op, &mut model, &mut subject);
            check(&model, &subject)?;
        }
    }
}

#[test]
fn delivery_keys_never_collide_with_the_router_position() {
    assert_eq!(parse_key(ROUTER_POSITION_KEY), None);
    let a = key(1, Seq(u64::MAX));
    let b = key(2, Seq(0));
    assert!(a < b);
    assert_eq!(parse_key(&a), Some((1, Seq(u64::MAX))));
    assert!(target_range(1, Seq(0)).contains(&a) && !target_range(1, Seq(0)).contains(&b));
    assert!(target_range(u64::MAX, Seq(0)).contains(&key(u64::MAX, Seq(u64::MAX))));
}
