//! Delivery: one worker per target pushes its pending deliveries over HTTP.

pub mod pending;
pub mod transform;
