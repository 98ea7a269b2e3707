//! Delivery: from a matched event to what its targets receive. `transform`
//! builds a target's HTTP body and dynamic HTTP parameters with EventBridge's
//! input-transformation semantics. Matching events to rules is `pattern`'s
//! job and keeping them the log's; this module starts where they end.

mod jsonpath;
pub mod transform;
