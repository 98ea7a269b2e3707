//! Transformer templates: where each placeholder sits, and how a value is
//! written there.
//!
//! A template is text in which every `<name>` is a placeholder (`<` and `>`
//! cannot be escaped). Scanning tracks JSON strings the way a JSON lexer
//! does (`"` opens and closes one, `\` escapes inside one), which settles
//! for each placeholder whether it is inside a string (its value's text goes
//! in, escaped) or not (its value goes in as JSON). Which names exist and
//! what their values are is the parent's business.

use serde::de::IgnoredAny;

use super::{EVENT, EVENT_JSON, TransformError};

/// A piece of a template: literal text, or a placeholder and whether it sits
/// inside a JSON string.
#[derive(Debug, PartialEq)]
pub(super) enum Segment<'t> {
    Text(&'t str),
    Var { name: &'t str, quoted: bool },
}

/// Writes a value's JSON text into the output: as JSON outside a string;
/// inside one, as escaped text (objects and arrays minified and stripped of
/// their quotes, as AWS does, so the string stays valid).
pub(super) fn insert(out: &mut String, json: &str, quoted: bool) {
    if !quoted {
        out.push_str(json);
        return;
    }
    match json.as_bytes().first() {
        Some(b'"') => match serde_json::from_str::<String>(json) {
            Ok(text) => push_escaped(out, &text),
            // A lone surrogate escape: the raw content is already escaped.
            Err(_) => out.push_str(&json[1..json.len() - 1]),
        },
        Some(b'{' | b'[') => push_escaped(out, &unquoted_minified(json)),
        _ => out.push_str(json),
    }
}

fn push_escaped(out: &mut String, text: &str) {
    let quoted = serde_json::to_string(text).expect("a str serializes");
    out.push_str(&quoted[1..quoted.len() - 1]);
}

/// `{"a": "b c"}` → `{a:b c}`: whitespace outside strings and the quotes
/// around strings dropped.
fn unquoted_minified(json: &str) -> String {
    let (mut in_string, mut escaped) = (false, false);
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                continue;
            }
            out.push(c);
        } else if c == '"' {
            in_string = true;
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

/// Length of the placeholder name at the start of `rest` (just after a
/// `<`), when a `>` closes it. Names are InputPathsMap keys or `aws.…`.
fn placeholder_len(rest: &[u8]) -> Option<usize> {
    let len = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        .count();
    (len > 0 && rest.get(len) == Some(&b'>')).then_some(len)
}

/// The placeholder names of a template, in order, found as [`parse`] finds
/// them.
pub(super) fn names(template: &str) -> impl Iterator<Item = &str> {
    let bytes = template.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            if bytes[i] == b'<'
                && let Some(len) = placeholder_len(&bytes[i + 1..])
            {
                let name = &template[i + 1..i + 1 + len];
                i += len + 2;
                return Some(name);
            }
            i += 1;
        }
        None
    })
}

/// Splits a template into text and placeholders; every `<name>` must be
/// `defined`. A template surrounded by curly braces must be a JSON object.
pub(super) fn parse<'t>(
    template: &'t str,
    defined: impl Fn(&str) -> bool,
) -> Result<Vec<Segment<'t>>, TransformError> {
    let bytes = template.as_bytes();
    let mut segments = Vec::new();
    let (mut start, mut i) = (0, 0);
    let (mut quoted, mut escaped) = (false, false);
    while i < bytes.len() {
        if bytes[i] == b'<'
            && let Some(len) = placeholder_len(&bytes[i + 1..])
        {
            let name = &template[i + 1..i + 1 + len];
            if !defined(name) {
                return Err(TransformError::UndefinedPlaceholder {
                    name: name.to_owned(),
                });
            }
            if quoted && (name == EVENT || name == EVENT_JSON) {
                return Err(TransformError::EventInString {
                    name: name.to_owned(),
                });
            }
            if start < i {
                segments.push(Segment::Text(&template[start..i]));
            }
            segments.push(Segment::Var { name, quoted });
            i += len + 2;
            start = i;
            escaped = false;
            continue;
        }
        match (quoted, escaped, bytes[i]) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => quoted = !quoted,
            _ => {}
        }
        i += 1;
    }
    if start < bytes.len() {
        segments.push(Segment::Text(&template[start..]));
    }
    let trimmed = template.trim();
    if trimmed.starts_with('{') && trimmed.ends_with('}') {
        check_json_object(template, &segments)?;
    }
    Ok(segments)
}

/// A template shaped as a JSON object must be one once filled, with no
/// placeholder as (or inside) an object key (AWS: "The placeholder cannot be
/// used as an object key").
fn check_json_object(template: &str, segments: &[Segment<'_>]) -> Result<(), TransformError> {
    let mut probe = String::with_capacity(template.len());
    let mut offset = 0;
    for segment in segments {
        match segment {
            Segment::Text(text) => {
                probe.push_str(text);
                offset += text.len();
            }
            Segment::Var { name, quoted } => {
                offset += name.len() + 2;
                if is_key(&template.as_bytes()[offset..], *quoted) {
                    return Err(TransformError::PlaceholderAsKey {
                        name: (*name).to_owned(),
                    });
                }
                // Text inside a string, a whole value outside one: what any
                // value can stand in for. `x` is no hex digit, so a `\` or
                // `\u12` left open before a placeholder still fails.
                probe.push_str(if *quoted { "x" } else { r#""""# });
            }
        }
    }
    serde_json::from_str::<IgnoredAny>(&probe)
        .map(drop)
        .map_err(|source| TransformError::TemplateNotJson { source })
}

/// Whether the text after a placeholder makes it (or the string it sits in)
/// an object key: the next thing after it, or after its string, is `:`.
fn is_key(after: &[u8], quoted: bool) -> bool {
    let mut i = 0;
    if quoted {
        let mut escaped = false;
        loop {
            match after.get(i) {
                None => return false,
                Some(_) if escaped => escaped = false,
                Some(b'\\') => escaped = true,
                Some(b'"') => break,
                Some(_) => {}
            }
            i += 1;
        }
        i += 1;
    }
    after[i.min(after.len())..]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        == Some(&b':')
}
