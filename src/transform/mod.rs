//! Input transformation: the body and the dynamic HTTP parameters a target
//! receives for an event, with EventBridge's semantics.
//!
//! Owns [`InputSpec`] (the whole event, `Input`, `InputPath` or
//! `InputTransformer`), its validation as PutTargets does it, its rendering
//! for one event, and [`resolve_parameter`] for `HttpParameters` values that
//! name a JSON path. Selected values are sent as the publisher wrote them
//! (raw text, key order kept). In a transformer template a placeholder inside
//! a JSON string is replaced by the value's text, escaped; anywhere else by
//! the value as JSON, so strings gain quotes; a path that selects nothing is
//! the empty string. The edge cases, each with its source, are in
//! `docs/delivery.md`. Pure: this module knows nothing of targets,
//! connections, HTTP or retries, and the caller checks that a target names at
//! most one of `Input`, `InputPath` and `InputTransformer`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

pub use jsonpath::PathError;
use jsonpath::{JsonPath, Notation, Selection};
use template::Segment;

mod jsonpath;
mod template;

/// PutTargets limits (EventBridge API reference: `TargetInput`,
/// `TargetInputPath`, `TransformerPaths`, `InputTransformerPathKey`,
/// `TransformerInput`), in characters.
pub const MAX_INPUT_CHARS: usize = 8192;
pub const MAX_PATH_CHARS: usize = 256;
pub const MAX_PATHS: usize = 100;
pub const MAX_KEY_CHARS: usize = 256;
pub const MAX_TEMPLATE_CHARS: usize = 8192;

const RULE_NAME: &str = "aws.events.rule-name";
const RULE_ARN: &str = "aws.events.rule-arn";
const EVENT: &str = "aws.events.event";
const EVENT_JSON: &str = "aws.events.event.json";
const INGESTION_TIME: &str = "aws.events.event.ingestion-time";
const PREDEFINED: [&str; 5] = [RULE_NAME, RULE_ARN, EVENT, EVENT_JSON, INGESTION_TIME];

/// How a target's body is built (AWS: at most one of Input, InputPath, InputTransformer).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// What rendering needs besides the spec: the event and its rule.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The event envelope JSON exactly as delivered for InputSpec::Event.
    pub event_json: &'a str,
    pub rule_name: &'a str,
    pub rule_arn: &'a str,
    /// RFC 3339 ingestion time, for <aws.events.event.ingestion-time>.
    pub ingestion_time: &'a str,
}

/// Why a spec was refused (messages fit a ValidationException) or an event
/// could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("{field} is {chars} characters long; the limit is {limit}")]
    TooLong {
        field: String,
        chars: usize,
        limit: usize,
    },
    #[error("Input must be valid JSON: {source}")]
    InputNotJson { source: serde_json::Error },
    #[error("{field} `{path}` is not a supported JSON path: {source}")]
    InvalidPath {
        field: String,
        path: String,
        source: PathError,
    },
    #[error("InputPathsMap has {count} entries; the limit is {MAX_PATHS}")]
    TooManyPaths { count: usize },
    #[error("InputPathsMap key `{key}` must be 1 to 256 characters: A-Z, a-z, 0-9, `_`, `-`")]
    InvalidKey { key: String },
    #[error("InputPathsMap key `{key}` is reserved for a predefined variable")]
    ReservedKey { key: String },
    #[error("InputTemplate must not be empty")]
    EmptyTemplate,
    #[error("InputTemplate contains invalid placeholder <{name}>: neither a key nor predefined")]
    UndefinedPlaceholder { name: String },
    #[error("InputTemplate uses <{name}> as an object key; it can only be a value")]
    PlaceholderAsKey { name: String },
    #[error("InputTemplate uses <{name}> in a string; it can only be a JSON value")]
    EventInString { name: String },
    #[error("InputTemplate is a JSON object, but not valid JSON when filled: {source}")]
    TemplateNotJson { source: serde_json::Error },
    #[error("the event is not valid JSON: {source}")]
    InvalidEvent { source: serde_json::Error },
}

impl InputSpec {
    /// Validates as PutTargets would; the messages name the field at fault.
    pub fn validate(&self) -> Result<(), TransformError> {
        match self {
            InputSpec::Event => Ok(()),
            InputSpec::Constant(input) => {
                check_len("Input", input, MAX_INPUT_CHARS)?;
                serde_json::from_str::<IgnoredAny>(input)
                    .map_err(|source| TransformError::InputNotJson { source })?;
                Ok(())
            }
            InputSpec::Path(path) => {
                parse_path("InputPath", path, Notation::DotOrBracket).map(drop)
            }
            InputSpec::Transformer {
                paths_map,
                template,
            } => Transformer::compile(paths_map, template).map(drop),
        }
    }

    /// The body for this event. A path that selects nothing yields an empty
    /// body for `InputPath` and the empty string for a transformer variable.
    pub fn render(&self, ctx: &Context<'_>) -> Result<Vec<u8>, TransformError> {
        match self {
            InputSpec::Event => Ok(ctx.event_json.as_bytes().to_vec()),
            InputSpec::Constant(input) => Ok(input.as_bytes().to_vec()),
            InputSpec::Path(path) => {
                let path = parse_path("InputPath", path, Notation::DotOrBracket)?;
                let event = parse_event(ctx.event_json)?;
                Ok(path
                    .select(event)
                    .map(|selected| json_text(selected).into_owned().into_bytes())
                    .unwrap_or_default())
            }
            InputSpec::Transformer {
                paths_map,
                template,
            } => {
                let transformer = Transformer::compile(paths_map, template)?;
                let event = parse_event(ctx.event_json)?;
                Ok(transformer.render(event, ctx).into_bytes())
            }
        }
    }
}

/// Resolves one HttpParameters value: a literal, or when it starts with `$.`, the value at that JSON path of the event (strings unquoted, other JSON values as their JSON text); None if the path selects nothing.
///
/// Paths take the transformer's dot notation; a value that starts with `$.`
/// but is no such path selects nothing ([`validate_parameter`] refuses it
/// up front). Objects and arrays come out as compact JSON text.
pub fn resolve_parameter(value: &str, event: &Value) -> Option<String> {
    if !value.starts_with("$.") {
        return Some(value.to_owned());
    }
    let path = JsonPath::parse(value, Notation::Dot).ok()?;
    match path.select(event)? {
        Selection::One(Value::String(text)) => Some(text.clone()),
        Selection::One(other) => Some(other.to_string()),
        Selection::Many(all) => Some(Value::Array(all.into_iter().cloned().collect()).to_string()),
    }
}

/// The first placeholder of `template` that is neither a key of `paths_map`
/// nor a predefined variable, if any. AWS refuses the whole PutTargets request
/// for it, so the API checks it before the entries one by one.
pub fn undefined_placeholder<'t>(
    paths_map: &BTreeMap<String, String>,
    template: &'t str,
) -> Option<&'t str> {
    template::names(template)
        .find(|name| !paths_map.contains_key(*name) && !PREDEFINED.contains(name))
}

/// Validates one HttpParameters value as PutTargets would: a value starting
/// with `$.` must be a supported path. `field` names it in the message
/// (`HttpParameters.HeaderParameters.x-id`).
pub fn validate_parameter(field: &str, value: &str) -> Result<(), TransformError> {
    if value.starts_with("$.") {
        parse_path(field, value, Notation::Dot)?;
    }
    Ok(())
}

fn check_len(field: &str, text: &str, limit: usize) -> Result<(), TransformError> {
    let chars = text.chars().count();
    if chars > limit {
        return Err(TransformError::TooLong {
            field: field.to_owned(),
            chars,
            limit,
        });
    }
    Ok(())
}

fn parse_path(field: &str, path: &str, notation: Notation) -> Result<JsonPath, TransformError> {
    check_len(field, path, MAX_PATH_CHARS)?;
    JsonPath::parse(path, notation).map_err(|source| TransformError::InvalidPath {
        field: field.to_owned(),
        path: path.to_owned(),
        source,
    })
}

fn parse_event(event_json: &str) -> Result<&RawValue, TransformError> {
    serde_json::from_str(event_json).map_err(|source| TransformError::InvalidEvent { source })
}

/// The JSON text of a selection: the raw value, or an array of the matches.
fn json_text<'a>(selected: Selection<&'a RawValue>) -> Cow<'a, str> {
    match selected {
        Selection::One(value) => Cow::Borrowed(value.get()),
        Selection::Many(all) => {
            let parts: Vec<&str> = all.iter().map(|v| v.get()).collect();
            Cow::Owned(format!("[{}]", parts.join(",")))
        }
    }
}

/// A validated `InputTransformer`, ready to render events.
struct Transformer<'s> {
    paths: Vec<(&'s str, JsonPath)>,
    segments: Vec<Segment<'s>>,
}

impl<'s> Transformer<'s> {
    fn compile(
        paths_map: &'s BTreeMap<String, String>,
        template: &'s str,
    ) -> Result<Self, TransformError> {
        if paths_map.len() > MAX_PATHS {
            return Err(TransformError::TooManyPaths {
                count: paths_map.len(),
            });
        }
        let mut paths = Vec::with_capacity(paths_map.len());
        for (key, path) in paths_map {
            check_key(key)?;
            let field = format!("InputPathsMap value for `{key}`");
            paths.push((key.as_str(), parse_path(&field, path, Notation::Dot)?));
        }
        if template.is_empty() {
            return Err(TransformError::EmptyTemplate);
        }
        check_len("InputTemplate", template, MAX_TEMPLATE_CHARS)?;
        let defined = |name: &str| paths_map.contains_key(name) || PREDEFINED.contains(&name);
        let segments = template::parse(template, defined)?;
        Ok(Transformer { paths, segments })
    }

    fn render(&self, event: &RawValue, ctx: &Context<'_>) -> String {
        let mut values: HashMap<&str, Cow<'_, str>> = HashMap::new();
        for (key, path) in &self.paths {
            // AWS: a path that matches nothing leaves an empty value.
            let value = path.select(event).map_or(Cow::Borrowed(r#""""#), json_text);
            values.insert(key, value);
        }
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Var { name, quoted } => {
                    let value = match values.get(name) {
                        Some(value) => Cow::Borrowed(value.as_ref()),
                        None => predefined(name, event, ctx),
                    };
                    template::insert(&mut out, &value, *quoted);
                }
            }
        }
        out
    }
}

fn check_key(key: &str) -> Result<(), TransformError> {
    if key.to_ascii_lowercase().starts_with("aws.") || PREDEFINED.contains(&key) {
        return Err(TransformError::ReservedKey {
            key: key.to_owned(),
        });
    }
    let charset = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if key.is_empty() || key.len() > MAX_KEY_CHARS || !charset {
        return Err(TransformError::InvalidKey {
            key: key.to_owned(),
        });
    }
    Ok(())
}

/// The JSON text of a predefined variable (the caller checked the name).
fn predefined<'a>(name: &str, event: &'a RawValue, ctx: &Context<'_>) -> Cow<'a, str> {
    let string = |s: &str| Cow::Owned(serde_json::to_string(s).expect("a str serializes"));
    match name {
        RULE_NAME => string(ctx.rule_name),
        RULE_ARN => string(ctx.rule_arn),
        INGESTION_TIME => string(ctx.ingestion_time),
        EVENT_JSON => Cow::Borrowed(event.get()),
        _ => Cow::Owned(event_without_detail(event)),
    }
}

/// `<aws.events.event>`: the envelope without `detail`, in the shape AWS
/// delivers it (recorded: `detail-type` becomes `detailType`).
fn event_without_detail(event: &RawValue) -> String {
    const FIELDS: [(&str, &str); 8] = [
        ("id", "id"),
        ("account", "account"),
        ("detail-type", "detailType"),
        ("time", "time"),
        ("source", "source"),
        ("region", "region"),
        ("resources", "resources"),
        ("version", "version"),
    ];
    let members: HashMap<String, &RawValue> = serde_json::from_str(event.get()).unwrap_or_default();
    let fields: Vec<String> = FIELDS
        .iter()
        .filter_map(|(field, name)| Some(format!("\"{name}\":{}", members.get(*field)?.get())))
        .collect();
    format!("{{{}}}", fields.join(","))
}

#[cfg(test)]
mod tests;
