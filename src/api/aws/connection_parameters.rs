//! `ConnectionHttpParameters` on the wire: the header, query string and body
//! parameters a connection adds to its OAuth token request
//! (`OAuthHttpParameters`) or to every invocation (`InvocationHttpParameters`).
//!
//! A parameter with `IsValueSecret` is shown with its key and flag only, never
//! its value; no error message quotes a value.

use serde::{Deserialize, Serialize};

use super::AwsError;
use crate::catalog::{Parameter, ParameterSet};

/// AWS's limit per list, and per key and value.
const MAX_PARAMETERS: usize = 100;
const MAX_CHARS: usize = 512;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpParametersIn {
    header_parameters: Option<Vec<ParameterIn>>,
    query_string_parameters: Option<Vec<ParameterIn>>,
    body_parameters: Option<Vec<ParameterIn>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ParameterIn {
    key: Option<String>,
    value: Option<String>,
    /// The model's default is `false`: the SDKs send it only when it is true.
    #[serde(default)]
    is_value_secret: bool,
}

#[derive(Clone, Copy)]
enum Place {
    Header,
    Query,
    Body,
}

impl Place {
    /// AWS's patterns for a key and a value in this place.
    fn accepts(self, key: &str, value: &str) -> (bool, bool) {
        let printable = |c: char| (' '..='~').contains(&c);
        match self {
            // `^[!#$%&'*+-.^_`|~0-9a-zA-Z]+$` and
            // `^[ \t]*[\x20-\x7E]+([ \t]+[\x20-\x7E]+)*[ \t]*$`
            Place::Header => (
                !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+,-.^_`|~".contains(&b)),
                value.chars().all(|c| c == '\t' || printable(c)) && value.chars().any(printable),
            ),
            // `[^\x00-\x1F\x7F]+` and `[^\x00-\x09\x0B\x0C\x0E-\x1F\x7F]+`
            Place::Query => (
                !key.is_empty() && !key.chars().any(|c| c.is_ascii_control()),
                !value.is_empty()
                    && !value
                        .chars()
                        .any(|c| c.is_ascii_control() && c != '\n' && c != '\r'),
            ),
            // AWS sets no pattern or length on body parameters.
            Place::Body => (!key.is_empty(), true),
        }
    }
}

/// A new set from `http`; lists it omits are empty.
pub fn parameter_set(http: HttpParametersIn, field: &str) -> Result<ParameterSet, AwsError> {
    let mut set = ParameterSet::default();
    patch_set(&mut set, http, field)?;
    Ok(set)
}

/// Replaces each list that `http` gives; the others stay as they are.
pub fn patch_set(
    set: &mut ParameterSet,
    http: HttpParametersIn,
    field: &str,
) -> Result<(), AwsError> {
    let lists = [
        (
            http.header_parameters,
            &mut set.headers,
            Place::Header,
            "HeaderParameters",
        ),
        (
            http.query_string_parameters,
            &mut set.query,
            Place::Query,
            "QueryStringParameters",
        ),
        (
            http.body_parameters,
            &mut set.body,
            Place::Body,
            "BodyParameters",
        ),
    ];
    for (given, slot, place, name) in lists {
        if let Some(given) = given {
            *slot = parameters(given, place, &format!("{field}.{name}"))?;
        }
    }
    Ok(())
}

fn parameters(
    given: Vec<ParameterIn>,
    place: Place,
    field: &str,
) -> Result<Vec<Parameter>, AwsError> {
    if given.len() > MAX_PARAMETERS {
        return Err(AwsError::validation(format!(
            "{field} may hold at most {MAX_PARAMETERS} parameters."
        )));
    }
    let long = |s: &str| s.chars().count() > MAX_CHARS;
    let mut out = Vec::with_capacity(given.len());
    for p in given {
        let (Some(key), Some(value)) = (p.key, p.value) else {
            return Err(AwsError::validation(format!(
                "each parameter of {field} needs a Key and a Value."
            )));
        };
        let (key_ok, value_ok) = place.accepts(&key, &value);
        if !key_ok || long(&key) {
            return Err(AwsError::validation(format!(
                "a Key of {field} is empty, longer than {MAX_CHARS} characters or has characters not allowed there."
            )));
        }
        if !value_ok || (!matches!(place, Place::Body) && long(&value)) {
            return Err(AwsError::validation(format!(
                "the Value of {key:?} in {field} is empty, longer than {MAX_CHARS} characters or has characters not allowed there."
            )));
        }
        out.push(Parameter {
            key,
            value,
            secret: p.is_value_secret,
        });
    }
    Ok(out)
}

/// A `ConnectionHttpParameters` as shown by DescribeConnection.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpParametersView {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    header_parameters: Vec<ParameterView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    query_string_parameters: Vec<ParameterView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    body_parameters: Vec<ParameterView>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ParameterView {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    is_value_secret: bool,
}

impl HttpParametersView {
    /// `None` when `set` is empty.
    pub fn of(set: &ParameterSet) -> Option<HttpParametersView> {
        let list = |ps: &[Parameter]| -> Vec<ParameterView> {
            ps.iter()
                .map(|p| ParameterView {
                    key: p.key.clone(),
                    value: (!p.secret).then(|| p.value.clone()),
                    is_value_secret: p.secret,
                })
                .collect()
        };
        let view = HttpParametersView {
            header_parameters: list(&set.headers),
            query_string_parameters: list(&set.query),
            body_parameters: list(&set.body),
        };
        let empty = view.header_parameters.is_empty()
            && view.query_string_parameters.is_empty()
            && view.body_parameters.is_empty();
        (!empty).then_some(view)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn set(http: serde_json::Value) -> Result<ParameterSet, AwsError> {
        parameter_set(
            serde_json::from_value(http).expect("valid shape"),
            "InvocationHttpParameters",
        )
    }

    #[test]
    fn keys_and_values_follow_aws_patterns_per_place() {
        let ok = set(json!({
            "HeaderParameters": [{"Key": "X-Api-Key", "Value": "a b\tc", "IsValueSecret": true}],
            "QueryStringParameters": [{"Key": "q key", "Value": "line\nbreak"}],
            "BodyParameters": [{"Key": "k", "Value": ""}],
        }))
        .expect("valid parameters");
        assert!(ok.headers[0].secret && !ok.query[0].secret);
        for bad in [
            json!({"HeaderParameters": [{"Key": "bad key", "Value": "v"}]}),
            json!({"HeaderParameters": [{"Key": "k", "Value": "é"}]}),
            json!({"HeaderParameters": [{"Key": "k", "Value": "\t"}]}),
            json!({"QueryStringParameters": [{"Key": "k\u{1}", "Value": "v"}]}),
            json!({"QueryStringParameters": [{"Key": "k", "Value": ""}]}),
            json!({"BodyParameters": [{"Key": "", "Value": "v"}]}),
            json!({"BodyParameters": [{"Key": "k"}]}),
            json!({"HeaderParameters": [{"Key": "k", "Value": "v".repeat(513)}]}),
        ] {
            assert!(set(bad.clone()).is_err(), "{bad}");
        }
        let many: Vec<_> = (0..101)
            .map(|i| json!({"Key": format!("k{i}"), "Value": "v"}))
            .collect();
        assert!(set(json!({ "BodyParameters": many })).is_err());
    }

    #[test]
    fn a_given_list_replaces_only_that_list() {
        let mut current = set(json!({
            "HeaderParameters": [{"Key": "h", "Value": "1"}],
            "BodyParameters": [{"Key": "b", "Value": "1"}],
        }))
        .expect("valid");
        let patch = serde_json::from_value(json!({"HeaderParameters": []})).expect("shape");
        patch_set(&mut current, patch, "InvocationHttpParameters").expect("valid");
        assert!(current.headers.is_empty());
        assert_eq!(current.body.len(), 1);
    }

    #[test]
    fn secret_values_are_never_shown() {
        let params = set(json!({
            "HeaderParameters": [{"Key": "h", "Value": "hidden", "IsValueSecret": true}],
            "QueryStringParameters": [{"Key": "q", "Value": "shown"}],
        }))
        .expect("valid");
        let shown = serde_json::to_string(&HttpParametersView::of(&params)).expect("serializes");
        assert!(!shown.contains("hidden"), "{shown}");
        assert!(shown.contains("shown") && shown.contains(r#""IsValueSecret":true"#));
        assert!(HttpParametersView::of(&ParameterSet::default()).is_none());
    }
}
