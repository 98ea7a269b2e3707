//! AWS's words for the domain's refusals: the one translation of
//! [`CatalogError`], [`BusError`] and [`ArnError`] into an [`AwsError`], its
//! `__type` and its exact message.
//!
//! The domain errors carry names and limits and read plainly in logs; the
//! sentences that clients (and tests recorded against AWS) compare are written
//! here and nowhere else. Refusals that only an operation knows stay with it.

use super::AwsError;
use crate::bus::{BusError, NameFault};
use crate::catalog::{ArnError, CatalogError};

impl From<CatalogError> for AwsError {
    fn from(error: CatalogError) -> Self {
        match &error {
            CatalogError::RuleNotFound { bus, name } => {
                AwsError::not_found(format!("Rule {name} does not exist on EventBus {bus}."))
            }
            CatalogError::RuleHasTargets { .. } => {
                AwsError::validation("Rule can't be deleted since it has targets.")
            }
            CatalogError::TooManyTargets { limit, .. } => AwsError::limit_exceeded(format!(
                "The requested resource exceeds the maximum number allowed: a rule has at most {limit} targets."
            )),
            CatalogError::ConnectionNotFound { name } => {
                AwsError::not_found(format!("Connection '{name}' does not exist."))
            }
            CatalogError::ConnectionExists { name } => {
                AwsError::already_exists(format!("Connection {name} already exists."))
            }
            // The request is well formed but conflicts with another resource;
            // DeleteConnection models only this exception for that.
            CatalogError::ConnectionInUse { name, destination } => {
                AwsError::concurrent_modification(format!(
                    "Connection '{name}' is used by API destination '{destination}'."
                ))
            }
            CatalogError::DestinationNotFound { name } => AwsError::not_found(format!(
                "Failed to describe the api-destination(s). An api-destination '{name}' does not exist."
            )),
            CatalogError::DestinationExists { name } => {
                AwsError::already_exists(format!("An api-destination '{name}' already exists."))
            }
            CatalogError::SigningNotFound { subject } => {
                AwsError::not_found(format!("No signing secret is set for '{subject}'."))
            }
            CatalogError::TooManyTags { limit } => {
                AwsError::validation(format!("A resource has at most {limit} tags."))
            }
            CatalogError::InvalidPattern(reason) => {
                AwsError::invalid_pattern(format!("Event pattern is not valid. Reason: {reason}"))
            }
            CatalogError::Storage(_) => AwsError::internal(&error),
        }
    }
}

impl From<BusError> for AwsError {
    fn from(error: BusError) -> Self {
        match &error {
            BusError::AlreadyExists(name) => {
                AwsError::already_exists(format!("Event bus {name} already exists."))
            }
            BusError::NotFound(name) => bus_not_found(name),
            BusError::InvalidName { name, fault } => {
                let rule = match fault {
                    NameFault::Length => "must be 1 to 256 characters",
                    NameFault::Characters => "may contain only letters, digits, '.', '-' and '_'",
                };
                AwsError::validation(format!("invalid event bus name {name:?}: {rule}"))
            }
            BusError::CannotDeleteDefault => {
                AwsError::validation("Cannot delete event bus default.")
            }
            BusError::Storage(_) => AwsError::internal(&error),
        }
    }
}

/// A bus that a request names (by name or ARN, as given) does not exist.
pub(super) fn bus_not_found(given: &str) -> AwsError {
    AwsError::not_found(format!("Event bus {given} does not exist."))
}

/// Why the ARN given in `field` (`ResourceARN`, `ConnectionArn`, `Target Arn`)
/// names nothing of this server: a whole sentence, for a `ValidationException`
/// or a `FailedEntries` member.
pub(super) fn arn_refusal(field: &str, error: &ArnError) -> String {
    match error {
        ArnError::Foreign {
            arn,
            region,
            account,
        } => format!(
            "{field} {arn} is not an ARN of this server: expected arn:aws:events:{region}:{account}:event-bus/NAME, rule/[BUS/]NAME, connection/NAME/ID or api-destination/NAME/ID."
        ),
        ArnError::Incomplete { arn, kind } => format!(
            "{field} {arn} is incomplete: a {kind} ARN ends with the {kind}'s name and id, arn:aws:events:REGION:ACCOUNT:{kind}/NAME/ID (as Create and Describe answer it)."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::validate_name;
    use crate::pattern::{Limits, Pattern};

    fn wire(error: impl Into<AwsError>) -> (u16, &'static str, String) {
        let error = error.into();
        (error.status.as_u16(), error.kind, error.message)
    }

    fn names(bus: &str, name: &str) -> (String, String) {
        (bus.into(), name.into())
    }

    /// The exact texts are AWS's (or pinned by clients' tests): a change here is
    /// a change on the wire.
    #[test]
    fn catalog_refusals_read_as_aws_words_them() {
        let (bus, name) = names("orders", "r");
        let cases = [
            (
                CatalogError::RuleNotFound {
                    bus: bus.clone(),
                    name: name.clone(),
                },
                "ResourceNotFoundException",
                "Rule r does not exist on EventBus orders.",
            ),
            (
                CatalogError::RuleHasTargets {
                    bus: bus.clone(),
                    name: name.clone(),
                },
                "ValidationException",
                "Rule can't be deleted since it has targets.",
            ),
            (
                CatalogError::TooManyTargets {
                    bus,
                    name,
                    limit: 5,
                },
                "LimitExceededException",
                "The requested resource exceeds the maximum number allowed: a rule has at most 5 targets.",
            ),
            (
                CatalogError::ConnectionNotFound { name: "c".into() },
                "ResourceNotFoundException",
                "Connection 'c' does not exist.",
            ),
            (
                CatalogError::ConnectionExists { name: "c".into() },
                "ResourceAlreadyExistsException",
                "Connection c already exists.",
            ),
            (
                CatalogError::ConnectionInUse {
                    name: "c".into(),
                    destination: "d".into(),
                },
                "ConcurrentModificationException",
                "Connection 'c' is used by API destination 'd'.",
            ),
            (
                CatalogError::DestinationNotFound { name: "d".into() },
                "ResourceNotFoundException",
                "Failed to describe the api-destination(s). An api-destination 'd' does not exist.",
            ),
            (
                CatalogError::DestinationExists { name: "d".into() },
                "ResourceAlreadyExistsException",
                "An api-destination 'd' already exists.",
            ),
            (
                CatalogError::TooManyTags { limit: 50 },
                "ValidationException",
                "A resource has at most 50 tags.",
            ),
            (
                CatalogError::InvalidPattern(
                    Pattern::parse(r#"{"a":[]}"#, &Limits::default()).expect_err("empty array"),
                ),
                "InvalidEventPatternException",
                "Event pattern is not valid. Reason: a: empty arrays are not allowed",
            ),
        ];
        for (error, kind, message) in cases {
            assert_eq!(wire(error), (400, kind, message.to_owned()));
        }
    }

    #[test]
    fn bus_refusals_read_as_before() {
        let cases = [
            (
                BusError::AlreadyExists("b".into()),
                "ResourceAlreadyExistsException",
                "Event bus b already exists.",
            ),
            (
                BusError::NotFound("b".into()),
                "ResourceNotFoundException",
                "Event bus b does not exist.",
            ),
            (
                validate_name("a/b").expect_err("a slash"),
                "ValidationException",
                r#"invalid event bus name "a/b": may contain only letters, digits, '.', '-' and '_'"#,
            ),
            (
                validate_name("").expect_err("empty"),
                "ValidationException",
                r#"invalid event bus name "": must be 1 to 256 characters"#,
            ),
            (
                BusError::CannotDeleteDefault,
                "ValidationException",
                "Cannot delete event bus default.",
            ),
        ];
        for (error, kind, message) in cases {
            assert_eq!(wire(error), (400, kind, message.to_owned()));
        }
    }

    #[test]
    fn arn_refusals_name_the_field_and_the_shape_expected() {
        let foreign = ArnError::Foreign {
            arn: "x".into(),
            region: "us-east-1".into(),
            account: "000000000000".into(),
        };
        assert_eq!(
            arn_refusal("ResourceARN", &foreign),
            "ResourceARN x is not an ARN of this server: expected arn:aws:events:us-east-1:000000000000:event-bus/NAME, rule/[BUS/]NAME, connection/NAME/ID or api-destination/NAME/ID."
        );
        let incomplete = ArnError::Incomplete {
            arn: "arn:aws:events:us-east-1:000000000000:connection/c".into(),
            kind: "connection",
        };
        assert_eq!(
            arn_refusal("ConnectionArn", &incomplete),
            "ConnectionArn arn:aws:events:us-east-1:000000000000:connection/c is incomplete: a connection ARN ends with the connection's name and id, arn:aws:events:REGION:ACCOUNT:connection/NAME/ID (as Create and Describe answer it)."
        );
    }

    #[test]
    fn storage_failures_are_generic_500s() {
        let error = CatalogError::Storage(crate::store::StoreError::Sled(
            sled::Error::Unsupported("x".into()),
        ));
        let (status, kind, message) = wire(error);
        assert_eq!((status, kind), (500, "InternalException"));
        assert!(message.starts_with("internal error (request "), "{message}");
    }
}
