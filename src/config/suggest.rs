//! "Did you mean …?": the known name closest to a misspelt one.
//!
//! Pure: a bounded edit distance over the names serde reports as expected. It
//! does not know where the name came from; the caller words the suggestion.

/// The name in `known` closest to `typed`, if one is close enough to be what
/// was meant: at most two edits, or a third of the longer name for long names.
pub fn closest(typed: &str, known: &[&'static str]) -> Option<&'static str> {
    let typed = typed.to_ascii_lowercase();
    known
        .iter()
        .map(|&name| (edit_distance(&typed, name), name))
        .filter(|&(distance, name)| distance <= 2.max(typed.len().max(name.len()) / 3))
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance over bytes (config names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const INGEST: &[&str] = &[
        "max_event_bytes",
        "idempotency_ttl_secs",
        "max_batch_events",
        "queue_depth",
    ];

    #[test]
    fn a_missing_letter_suggests_the_field() {
        assert_eq!(closest("max_event_byte", INGEST), Some("max_event_bytes"));
        assert_eq!(closest("MAX_EVENT_BYTE", INGEST), Some("max_event_bytes"));
        assert_eq!(closest("queue_dept", INGEST), Some("queue_depth"));
    }

    #[test]
    fn a_longer_section_name_suggests_the_section() {
        let sections = &[
            "server", "storage", "ingest", "aws", "patterns", "delivery", "log",
        ];
        assert_eq!(closest("ingestion", sections), Some("ingest"));
        assert_eq!(closest("logs", sections), Some("log"));
    }

    #[test]
    fn an_unrelated_name_suggests_nothing() {
        assert_eq!(closest("colour", INGEST), None);
        assert_eq!(closest("", INGEST), None);
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
