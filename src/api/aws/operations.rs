//! The supported operations, written once: the table below makes both the
//! dispatch and [`OPERATIONS`], from which an unknown operation's answer
//! suggests the closest name (`PutRules` → `PutRule`).

use axum::response::Response;

use super::{
    AwsError, archives, buses, connections, destinations, events, parse, parse_sensitive, patterns,
    replays, rules, tags, targets,
};
use crate::api::AppState;
use crate::api::keys::PublishAuth;

/// `name => handler` pairs: the handler may use `state` and `body`.
macro_rules! operations {
    ($state:ident, $body:ident, $publish:ident; $($name:literal => $call:expr,)*) => {
        /// Every operation `route` answers, in the table's order.
        pub const OPERATIONS: &[&str] = &[$($name),*];

        /// Runs `operation` on the request body.
        pub async fn route(
            operation: &str,
            $state: &AppState,
            $body: &[u8],
            $publish: &PublishAuth,
        ) -> Result<Response, AwsError> {
            match operation {
                $($name => $call,)*
                other => Err(AwsError::unknown_operation(unknown(other))),
            }
        }
    };
}

operations! { state, body, publish;
    "PutEvents" => events::put_events(state, parse(body)?, publish).await,
    "CreateEventBus" => buses::create(state, parse(body)?),
    "DescribeEventBus" => buses::describe(state, parse(body)?),
    "ListEventBuses" => buses::list(state, parse(body)?),
    "DeleteEventBus" => buses::delete(state, parse(body)?),
    "TestEventPattern" => patterns::test_event_pattern(state, parse(body)?),
    "CreateConnection" => connections::create(state, parse_sensitive(body)?),
    "DescribeConnection" => connections::describe(state, parse(body)?),
    "ListConnections" => connections::list(state, parse(body)?),
    "UpdateConnection" => connections::update(state, parse_sensitive(body)?),
    "DeauthorizeConnection" => connections::deauthorize(state, parse(body)?),
    "DeleteConnection" => connections::delete(state, parse(body)?),
    "CreateApiDestination" => destinations::create(state, parse(body)?),
    "DescribeApiDestination" => destinations::describe(state, parse(body)?),
    "ListApiDestinations" => destinations::list(state, parse(body)?),
    "UpdateApiDestination" => destinations::update(state, parse(body)?),
    "DeleteApiDestination" => destinations::delete(state, parse(body)?),
    "PutRule" => rules::put(state, parse(body)?),
    "DescribeRule" => rules::describe(state, parse(body)?),
    "ListRules" => rules::list(state, parse(body)?),
    "DeleteRule" => rules::delete(state, parse(body)?),
    "EnableRule" => rules::set_enabled(state, parse(body)?, true),
    "DisableRule" => rules::set_enabled(state, parse(body)?, false),
    "PutTargets" => targets::put(state, parse(body)?),
    "ListTargetsByRule" => targets::list(state, parse(body)?),
    "RemoveTargets" => targets::remove(state, parse(body)?),
    "TagResource" => tags::tag(state, parse(body)?),
    "UntagResource" => tags::untag(state, parse(body)?),
    "ListTagsForResource" => tags::list(state, parse(body)?),
    "CreateArchive" => archives::create(state, parse(body)?),
    "DescribeArchive" => archives::describe(state, parse(body)?),
    "ListArchives" => archives::list(state, parse(body)?),
    "UpdateArchive" => archives::update(state, parse(body)?),
    "DeleteArchive" => archives::delete(state, parse(body)?),
    "StartReplay" => replays::start(state, parse(body)?),
    "DescribeReplay" => replays::describe(state, parse(body)?),
    "ListReplays" => replays::list(state, parse(body)?),
    "CancelReplay" => replays::cancel(state, parse(body)?),
}

/// The message for an operation not in the table, with the closest name when
/// one is near enough to be a slip.
fn unknown(operation: &str) -> String {
    match closest(operation) {
        Some(known) => format!("operation {operation} is not supported; did you mean {known}?"),
        None => format!("operation {operation} is not supported"),
    }
}

/// The supported name at the smallest edit distance (ignoring ASCII case), if
/// that distance is at most a third of the name's length (and at most 3).
fn closest(operation: &str) -> Option<&'static str> {
    let wanted = operation.to_ascii_lowercase();
    let limit = (operation.chars().count() / 3).min(3);
    OPERATIONS
        .iter()
        .map(|known| (edit_distance(&wanted, &known.to_ascii_lowercase()), *known))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

/// Levenshtein distance over characters, one row at a time.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("putrules", "putrule"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
    }

    #[test]
    fn a_near_miss_names_the_operation_and_a_far_one_does_not() {
        assert_eq!(
            unknown("PutRules"),
            "operation PutRules is not supported; did you mean PutRule?"
        );
        assert_eq!(closest("listrules"), Some("ListRules"));
        assert_eq!(closest("TagResources"), Some("TagResource"));
        assert_eq!(closest("CreatePartnerEventSource"), None);
        assert_eq!(unknown("Nope"), "operation Nope is not supported");
    }

    #[test]
    fn operation_names_are_unique() {
        let mut names = OPERATIONS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), OPERATIONS.len());
    }
}
