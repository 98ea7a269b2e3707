//! Target input: how a target's body is built from an event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a target's body is built (AWS: at most one of Input, InputPath, InputTransformer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum InputSpec {
    /// The whole event envelope JSON (default).
    Event,
    /// `Input`: constant JSON text, sent as is.
    Constant(String),
    /// `InputPath`: a JSONPath into the event; the selected value is sent.
    Path(String),
    /// `InputTransformer`.
    Transformer {
        paths_map: BTreeMap<String, String>,
        template: String,
    },
}

pub struct Context<'a> {
    pub event_json: &'a str,
    pub rule_name: &'a str,
    pub rule_arn: &'a str,
    pub ingestion_time: &'a str,
}

#[derive(Debug, thiserror::Error)]
#[error("input transformation is not available yet")]
pub struct TransformError;

impl InputSpec {
    pub fn render(&self, ctx: &Context<'_>) -> Result<Vec<u8>, TransformError> {
        match self {
            InputSpec::Event => Ok(ctx.event_json.as_bytes().to_vec()),
            InputSpec::Constant(c) => Ok(c.as_bytes().to_vec()),
            _ => Err(TransformError),
        }
    }
}

pub fn resolve_parameter(value: &str, _event: &serde_json::Value) -> Option<String> {
    Some(value.to_owned())
}
