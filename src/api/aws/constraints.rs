//! AWS's field constraints shared by the control-plane operations: resource
//! names, descriptions, endpoint URLs, ARN lengths and AWS's length message. Paging is `paginate.rs`'s.
//!
//! Each check names the field it refuses and never echoes the value, so that it
//! is safe for secrets too. What a field means is decided by its operation.

use super::AwsError;

/// AWS's `RoleArn`, `TargetArn`, `EventBusNameOrArn`.
pub const MAX_ARN: usize = 1600;

/// A request member as AWS names it in messages: `EventBusName` → `eventBusName`.
pub fn member(field: &str) -> String {
    let mut chars = field.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_lowercase().to_string() + chars.as_str()
    })
}

/// AWS's wording for a value outside its length bounds (the value is not echoed:
/// it may be large).
pub fn length_message(field: &str, min: usize, max: usize) -> String {
    format!(
        "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must have length between {min} and {max}",
        member(field)
    )
}

/// `Err` with AWS's wording unless `value` has `min..=max` characters.
pub fn check_length(field: &str, value: &str, min: usize, max: usize) -> Result<(), String> {
    let chars = value.chars().count();
    if (min..=max).contains(&chars) {
        Ok(())
    } else {
        Err(length_message(field, min, max))
    }
}

/// A connection or API destination name: 1–64 of `[\.\-_A-Za-z0-9]`.
pub fn resource_name(field: &str, value: Option<String>) -> Result<String, AwsError> {
    let value = required(field, value)?;
    name_pattern(field, &value)?;
    Ok(value)
}

/// `NamePrefix` of a List call: the name pattern, if given.
pub fn name_prefix(value: Option<String>) -> Result<Option<String>, AwsError> {
    if let Some(prefix) = &value {
        name_pattern("NamePrefix", prefix)?;
    }
    Ok(value)
}

fn name_pattern(field: &str, value: &str) -> Result<(), AwsError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
    if value.is_empty() || value.len() > 64 || !value.bytes().all(allowed) {
        return Err(AwsError::validation(format!(
            "{field} must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '-' and '_'."
        )));
    }
    Ok(())
}

pub fn required(field: &str, value: Option<String>) -> Result<String, AwsError> {
    value.ok_or_else(|| AwsError::validation(format!("{field} is required.")))
}

/// A `Description`: at most 512 characters.
pub fn description(value: Option<String>) -> Result<Option<String>, AwsError> {
    max_chars("Description", value.as_deref(), 512)?;
    Ok(value)
}

pub fn max_chars(field: &str, value: Option<&str>, max: usize) -> Result<(), AwsError> {
    if value.is_some_and(|v| v.chars().count() > max) {
        return Err(AwsError::validation(format!(
            "{field} must be at most {max} characters."
        )));
    }
    Ok(())
}

/// One of `allowed`, as AWS spells it.
pub fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), AwsError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(AwsError::validation(format!(
        "{field} must be one of {}.",
        allowed.join(", ")
    )))
}

/// An endpoint URL (`AuthorizationEndpoint`, `InvocationEndpoint`): 1–2048
/// characters of AWS's URL pattern, an absolute URL with a host. AWS requires
/// `https://`; Stowage also accepts `http://` for endpoints on a local network.
pub fn endpoint(field: &str, value: &str) -> Result<(), AwsError> {
    let invalid = |why: &str| Err(AwsError::validation(format!("{field} {why}")));
    if value.is_empty() || value.chars().count() > 2048 {
        return invalid("must be 1 to 2048 characters.");
    }
    if !url_characters(value) {
        return invalid("may contain only letters, digits, -()_.!~*';/?:@&=+$, and %XX escapes.");
    }
    let Ok(url) = reqwest::Url::parse(value) else {
        return invalid("must be an absolute URL.");
    };
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
        return invalid("must be an https:// (or http://) URL with a host.");
    }
    Ok(())
}

/// AWS's `HttpsEndpoint` pattern:
/// `^((%[0-9A-Fa-f]{2}|[-()_.!~*';/?:@\x26=+$,A-Za-z0-9])+)([).!';/?:,])?$`.
fn url_characters(value: &str) -> bool {
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3);
                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b"-()_.!~*';/?:@&=+$,".contains(&b) => i += 1,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_aws_pattern() {
        assert!(resource_name("Name", Some("a.b-c_D9".into())).is_ok());
        assert!(resource_name("Name", Some("x".repeat(64))).is_ok());
        for bad in ["", "has space", "slash/", "é", &"x".repeat(65)] {
            assert!(resource_name("Name", Some(bad.into())).is_err(), "{bad:?}");
        }
        assert!(resource_name("Name", None).is_err());
    }

    #[test]
    fn endpoints_are_http_or_https_urls_of_the_aws_alphabet() {
        for good in [
            "https://api.example.com/orders",
            "https://api.example.com/*/items/*?x=1&y=%20",
            "http://127.0.0.1:9000/hook",
        ] {
            assert!(endpoint("E", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ftp://example.com/",
            "https://example.com/a b",
            "https://example.com/#frag",
            "https://example.com/%zz",
            "https://example.com/%2",
            "not a url",
            "/relative/path",
            "https://",
        ] {
            assert!(endpoint("E", bad).is_err(), "{bad:?}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert!(endpoint("E", &long).is_err());
    }

    #[test]
    fn descriptions_and_choices_are_bounded() {
        assert!(description(Some("d".repeat(513))).is_err());
        assert!(one_of("HttpMethod", "PATCH", &["GET", "POST"]).is_err());
    }
}
