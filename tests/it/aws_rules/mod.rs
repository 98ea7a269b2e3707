//! The rule and target operations through the AWS SDK for Rust (and raw JSON
//! where the SDK hides the wire): PutRule, DescribeRule, ListRules, DeleteRule,
//! EnableRule, DisableRule, PutTargets, ListTargetsByRule, RemoveTargets, with
//! AWS's error types, and rules with their targets surviving restarts.

mod restart;
mod rules;
mod targets;
mod wire;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::Target;

/// ARNs of this server's rules (default region and account).
const RULE_ARN_PREFIX: &str = "arn:aws:events:us-east-1:000000000000:rule/";
const PATTERN: &str = r#"{"source":["com.example.orders"]}"#;

/// A target delivering to a plain URL (Stowage's extension).
fn url_target(id: &str, url: &str) -> Target {
    Target::builder()
        .id(id)
        .arn(url)
        .build()
        .expect("id and arn are set")
}

/// Creates rule `name` on `bus` with [`PATTERN`]; returns its ARN.
async fn put_rule(client: &Client, bus: &str, name: &str) -> String {
    client
        .put_rule()
        .name(name)
        .event_bus_name(bus)
        .event_pattern(PATTERN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put rule {bus}/{name}: {e:?}"))
        .rule_arn()
        .expect("PutRule answers the ARN")
        .to_string()
}

/// The ids of `rule`'s targets on the default bus, in order, following `NextToken`.
async fn target_ids(client: &Client, rule: &str, limit: Option<i32>) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    for _page in 0..20 {
        let page = client
            .list_targets_by_rule()
            .rule(rule)
            .set_limit(limit)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("list targets");
        if let Some(limit) = limit {
            assert!(page.targets().len() <= usize::try_from(limit).expect("positive"));
        }
        ids.extend(page.targets().iter().map(|t| t.id().to_string()));
        token = page.next_token().map(String::from);
        if token.is_none() {
            return ids;
        }
    }
    panic!("ListTargetsByRule kept returning NextToken");
}
