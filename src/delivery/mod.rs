//! Delivery: one worker per target pushes its pending deliveries over HTTP.
//! `transform` builds a target's body and dynamic HTTP parameters with
//! EventBridge's input-transformation semantics.

mod jsonpath;
pub mod pending;
pub mod transform;
