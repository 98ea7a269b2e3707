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
