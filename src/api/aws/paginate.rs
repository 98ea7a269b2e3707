//! Paging of the List operations: `Limit` and `NextToken` checked as each
//! operation checks them, one page cut from the items in order, and the
//! `NextToken` of the following page written into the answer.
//!
//! A token is the key (the name) of the last item of the previous page, so the
//! next page resumes after it even if that item has been deleted meanwhile.
//! ListTargetsByRule's token is the position of the next target instead (a
//! rule has at most five). What the items are and how they are filtered is the
//! operation's.

use serde::Serialize;
use serde_json::{Value, json};

use super::AwsError;
use super::constraints::check_length;

/// `Limit` when a request gives none, and its largest value.
const MAX_LIMIT: usize = 100;
/// The longest `NextToken` AWS accepts.
const MAX_TOKEN: usize = 2048;

/// How an operation checks `Limit` and `NextToken`. The operations disagree
/// where AWS does not; each keeps what it answered before this helper.
#[derive(Clone, Copy, Debug)]
pub enum Checks {
    /// ListRules, ListTargetsByRule: `NextToken` (1–2048 characters), then
    /// `Limit`, in AWS's modelled wording ("1 validation error detected: …").
    Modelled,
    /// ListConnections, ListApiDestinations: `Limit`, then `NextToken` (1–2048
    /// bytes), in short sentences.
    Short,
    /// ListEventBuses: `Limit` in a short sentence; `NextToken` unchecked (an
    /// empty one starts at the beginning).
    LimitOnly,
}

/// The `Limit` and `NextToken` of a List request, checked.
#[derive(Debug)]
pub struct Paging {
    limit: usize,
    token: Option<String>,
}

/// The paging of an operation whose token is the position of the next item.
#[derive(Debug)]
pub struct ByPosition {
    limit: usize,
    start: usize,
}

/// One page of items and the token of the next page, if there is one.
#[derive(Debug)]
pub struct Page<T> {
    items: Vec<T>,
    next_token: Option<String>,
}

impl Paging {
    pub fn parse(
        checks: Checks,
        limit: Option<i64>,
        next_token: Option<String>,
    ) -> Result<Paging, AwsError> {
        let limit = match checks {
            Checks::Modelled => {
                if let Some(token) = &next_token {
                    check_length("NextToken", token, 1, MAX_TOKEN).map_err(AwsError::validation)?;
                }
                checked_limit(limit).map_err(|l| {
                    AwsError::validation(format!(
                        "1 validation error detected: Value '{l}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {MAX_LIMIT}"
                    ))
                })?
            }
            Checks::Short | Checks::LimitOnly => {
                let limit = checked_limit(limit).map_err(|_| {
                    AwsError::validation(format!("Limit must be between 1 and {MAX_LIMIT}."))
                })?;
                if matches!(checks, Checks::Short)
                    && next_token
                        .as_ref()
                        .is_some_and(|t| t.is_empty() || t.len() > MAX_TOKEN)
                {
                    return Err(AwsError::validation(format!(
                        "NextToken must be 1 to {MAX_TOKEN} characters."
                    )));
                }
                limit
            }
        };
        Ok(Paging {
            limit,
            token: next_token,
        })
    }

    /// The page of `items` (in the order of `key`, already filtered) after the
    /// item whose key the token names, whether or not it still exists.
    pub fn after_key<T>(
        self,
        items: impl IntoIterator<Item = T>,
        key: impl Fn(&T) -> &str,
    ) -> Page<T> {
        let after = self.token.as_deref();
        let mut items: Vec<T> = items
            .into_iter()
            .filter(|item| after.is_none_or(|a| key(item) > a))
            .take(self.limit.saturating_add(1))
            .collect();
        let more = items.len() > self.limit;
        items.truncate(self.limit);
        let next_token = items
            .last()
            .filter(|_| more)
            .map(|last| key(last).to_owned());
        Page { items, next_token }
    }

    /// For an operation whose token is the position of the next item
    /// (ListTargetsByRule): refused unless the token is one. Called before
    /// anything is looked up, as that operation always has.
    pub fn by_position(self) -> Result<ByPosition, AwsError> {
        let start = match self.token.as_deref() {
            None => 0,
            Some(token) => token
                .parse::<usize>()
                .map_err(|_| AwsError::validation("NextToken is not valid."))?,
        };
        Ok(ByPosition {
            limit: self.limit,
            start,
        })
    }
}

/// `Limit` 1–100 (100 when absent); `Err` holds a value out of range.
fn checked_limit(limit: Option<i64>) -> Result<usize, i64> {
    match limit {
        None => Ok(MAX_LIMIT),
        Some(l) => usize::try_from(l)
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or(l),
    }
}

impl ByPosition {
    /// The page of `items` (in order) from the token's position; a position
    /// past the end is an empty last page.
    pub fn page<T>(self, items: impl IntoIterator<Item = T>) -> Page<T> {
        let mut items: Vec<T> = items
            .into_iter()
            .skip(self.start)
            .take(self.limit.saturating_add(1))
            .collect();
        let more = items.len() > self.limit;
        items.truncate(self.limit);
        let next_token = more.then(|| (self.start + self.limit).to_string());
        Page { items, next_token }
    }
}

impl<T> Page<T> {
    /// The answer: `{field: [view(item), …]}`, and `NextToken` when another
    /// page follows.
    pub fn body<V: Serialize>(self, field: &str, view: impl FnMut(T) -> V) -> Value {
        let items: Vec<V> = self.items.into_iter().map(view).collect();
        let mut body = json!({});
        body[field] = json!(items);
        if let Some(token) = self.next_token {
            body["NextToken"] = json!(token);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

    fn paging(checks: Checks, limit: Option<i64>, token: Option<&str>) -> Paging {
        Paging::parse(checks, limit, token.map(String::from)).expect("valid paging")
    }

    fn by_key(limit: i64, token: Option<&str>) -> (Vec<&'static str>, Option<String>) {
        let page = paging(Checks::Short, Some(limit), token).after_key(NAMES, |n| n);
        (page.items, page.next_token)
    }

    fn refusal(checks: Checks, limit: Option<i64>, token: Option<&str>) -> String {
        let error = Paging::parse(checks, limit, token.map(String::from)).expect_err("refused");
        assert_eq!(error.kind, "ValidationException");
        error.message
    }

    #[test]
    fn pages_by_key_run_first_middle_last() {
        assert_eq!(by_key(2, None), (vec!["a", "b"], Some("b".into())));
        assert_eq!(by_key(2, Some("b")), (vec!["c", "d"], Some("d".into())));
        assert_eq!(by_key(2, Some("d")), (vec!["e"], None));
        assert_eq!(by_key(5, None), (NAMES.to_vec(), None), "exactly one page");
        assert_eq!(by_key(4, Some("a")), (vec!["b", "c", "d", "e"], None));
    }

    #[test]
    fn an_empty_list_is_one_empty_page() {
        let page = paging(Checks::Modelled, None, None).after_key(Vec::<&str>::new(), |n| n);
        assert_eq!((page.items.len(), page.next_token), (0, None));
        let page = paging(Checks::Modelled, None, Some("3"))
            .by_position()
            .expect("a position")
            .page(Vec::<&str>::new());
        assert_eq!((page.items.len(), page.next_token), (0, None));
    }

    #[test]
    fn a_token_whose_item_is_gone_resumes_after_its_name() {
        let left = ["a", "b", "d", "e"];
        let page = paging(Checks::Short, Some(1), Some("c")).after_key(left, |n| n);
        assert_eq!((page.items, page.next_token), (vec!["d"], Some("d".into())));
        let past_the_end = paging(Checks::Short, None, Some("z")).after_key(left, |n| n);
        assert_eq!(
            (past_the_end.items.len(), past_the_end.next_token),
            (0, None)
        );
    }

    #[test]
    fn pages_by_position_carry_the_next_position() {
        let page = |limit, token| {
            let page = paging(Checks::Modelled, Some(limit), token)
                .by_position()
                .expect("a position")
                .page(NAMES);
            (page.items, page.next_token)
        };
        assert_eq!(page(2, None), (vec!["a", "b"], Some("2".into())));
        assert_eq!(page(2, Some("2")), (vec!["c", "d"], Some("4".into())));
        assert_eq!(page(2, Some("4")), (vec!["e"], None));
        assert_eq!(page(2, Some("9")), (vec![], None), "past the end");
        let not_a_position = paging(Checks::Modelled, None, Some("b"))
            .by_position()
            .expect_err("a name is not a position");
        assert_eq!(not_a_position.message, "NextToken is not valid.");
    }

    #[test]
    fn limits_are_1_to_100_with_each_operations_wording() {
        assert_eq!(paging(Checks::LimitOnly, None, None).limit, 100);
        assert_eq!(paging(Checks::Modelled, Some(100), None).limit, 100);
        assert_eq!(paging(Checks::Short, Some(1), None).limit, 1);
        for bad in [0, 101, -1, i64::MAX] {
            assert_eq!(
                refusal(Checks::Modelled, Some(bad), None),
                format!(
                    "1 validation error detected: Value '{bad}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 100"
                )
            );
            for checks in [Checks::Short, Checks::LimitOnly] {
                assert_eq!(
                    refusal(checks, Some(bad), None),
                    "Limit must be between 1 and 100."
                );
            }
        }
    }

    #[test]
    fn tokens_are_checked_as_each_operation_checks_them() {
        let modelled = "1 validation error detected: Value at 'nextToken' failed to satisfy constraint: Member must have length between 1 and 2048";
        let short = "NextToken must be 1 to 2048 characters.";
        let long = "x".repeat(2049);
        for bad in ["", long.as_str()] {
            assert_eq!(refusal(Checks::Modelled, None, Some(bad)), modelled);
            assert_eq!(refusal(Checks::Short, None, Some(bad)), short);
            assert!(Paging::parse(Checks::LimitOnly, None, Some(bad.into())).is_ok());
        }
        // Modelled counts characters, Short bytes.
        let wide = "é".repeat(2048);
        assert!(Paging::parse(Checks::Modelled, None, Some(wide.clone())).is_ok());
        assert_eq!(refusal(Checks::Short, None, Some(&wide)), short);
        // Which of two bad members is named first.
        assert_eq!(refusal(Checks::Modelled, Some(0), Some("")), modelled);
        assert_eq!(
            refusal(Checks::Short, Some(0), Some("")),
            "Limit must be between 1 and 100."
        );
        // An empty token lists from the start where it is not checked.
        let page = paging(Checks::LimitOnly, Some(1), Some("")).after_key(NAMES, |n| n);
        assert_eq!(page.items, vec!["a"]);
    }

    #[test]
    fn the_body_has_next_token_only_when_a_page_follows() {
        let more = paging(Checks::Short, Some(2), None).after_key(NAMES, |n| n);
        assert_eq!(
            more.body("Names", str::to_uppercase),
            json!({"Names": ["A", "B"], "NextToken": "b"})
        );
        let last = paging(Checks::Short, Some(2), Some("d")).after_key(NAMES, |n| n);
        assert_eq!(last.body("Names", |n| n), json!({"Names": ["e"]}));
    }
}
