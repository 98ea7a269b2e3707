//! ARNs of this server's resources: how they are written, and what a given ARN
//! names. Reading an ARN checks only its shape and that it is in this server's
//! region and account; whether the resource exists is the catalog's (or the
//! buses') question.

use crate::config::AwsConfig;

use super::{ApiDestinationRecord, ConnectionRecord};

/// What a well-formed ARN of this server names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource<'a> {
    Bus(&'a str),
    Rule { bus: &'a str, name: &'a str },
    Connection { name: &'a str, id: &'a str },
    ApiDestination { name: &'a str, id: &'a str },
}

/// Why an ARN names no resource of this server. The Display is for logs; the
/// API words the refusal for its clients.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    /// Another region or account, or a shape this server never writes.
    #[error("{arn} names no resource of this server (region {region}, account {account})")]
    Foreign {
        arn: String,
        region: String,
        account: String,
    },
    /// A connection or API destination ARN without its id (or with an empty part).
    #[error("{kind} ARN {arn} lacks its name or its id")]
    Incomplete { arn: String, kind: &'static str },
}

/// ARNs in this server's region and account.
#[derive(Clone, Debug)]
pub struct Arns {
    prefix: String,
    region: String,
    account: String,
}

impl Arns {
    pub fn new(aws: &AwsConfig) -> Arns {
        Arns {
            prefix: format!("arn:aws:events:{}:{}:", aws.region, aws.account),
            region: aws.region.clone(),
            account: aws.account.clone(),
        }
    }

    pub fn bus(&self, name: &str) -> String {
        format!("{}event-bus/{name}", self.prefix)
    }

    /// `rule/NAME` on the default bus, `rule/BUS/NAME` elsewhere (as AWS).
    pub fn rule(&self, bus: &str, name: &str) -> String {
        if bus == crate::bus::DEFAULT_BUS {
            format!("{}rule/{name}", self.prefix)
        } else {
            format!("{}rule/{bus}/{name}", self.prefix)
        }
    }

    pub fn archive(&self, name: &str) -> String {
        format!("{}archive/{name}", self.prefix)
    }

    /// The archive name in one of this server's archive ARNs.
    pub fn archive_name<'a>(&self, arn: &'a str) -> Option<&'a str> {
        arn.strip_prefix(&self.prefix)?
            .strip_prefix("archive/")
            .filter(|name| !name.is_empty() && !name.contains('/'))
    }

    pub fn connection(&self, record: &ConnectionRecord) -> String {
        format!("{}connection/{}/{}", self.prefix, record.name, record.uuid)
    }

    pub fn api_destination(&self, record: &ApiDestinationRecord) -> String {
        format!(
            "{}api-destination/{}/{}",
            self.prefix, record.name, record.uuid
        )
    }

    /// The ARN of `resource`, written as this server writes it.
    pub fn of(&self, resource: Resource<'_>) -> String {
        match resource {
            Resource::Bus(name) => self.bus(name),
            Resource::Rule { bus, name } => self.rule(bus, name),
            Resource::Connection { name, id } => format!("{}connection/{name}/{id}", self.prefix),
            Resource::ApiDestination { name, id } => {
                format!("{}api-destination/{name}/{id}", self.prefix)
            }
        }
    }

    /// What `arn` names, by its shape alone.
    pub fn parse<'a>(&self, arn: &'a str) -> Result<Resource<'a>, ArnError> {
        let rest = arn
            .strip_prefix(&self.prefix)
            .ok_or_else(|| self.foreign(arn))?;
        let (kind, rest) = rest.split_once('/').ok_or_else(|| self.foreign(arn))?;
        let resource = match kind {
            "event-bus" if !rest.is_empty() && !rest.contains('/') => Resource::Bus(rest),
            "rule" => match rest.split_once('/') {
                None if !rest.is_empty() => Resource::Rule {
                    bus: crate::bus::DEFAULT_BUS,
                    name: rest,
                },
                Some((bus, name)) if !bus.is_empty() && !name.is_empty() && !name.contains('/') => {
                    Resource::Rule { bus, name }
                }
                _ => return Err(self.foreign(arn)),
            },
            "connection" => {
                let (name, id) = name_and_id(arn, rest, "connection")?;
                Resource::Connection { name, id }
            }
            "api-destination" => {
                let (name, id) = name_and_id(arn, rest, "api-destination")?;
                Resource::ApiDestination { name, id }
            }
            _ => return Err(self.foreign(arn)),
        };
        Ok(resource)
    }

    /// The connection name in one of this server's connection ARNs; `Ok(None)`
    /// for an ARN that names something else.
    pub fn connection_name<'a>(&self, arn: &'a str) -> Result<Option<&'a str>, ArnError> {
        match self.parse(arn)? {
            Resource::Connection { name, .. } => Ok(Some(name)),
            _ => Ok(None),
        }
    }

    /// The API destination name in one of this server's API destination ARNs;
    /// `Ok(None)` for an ARN that names something else.
    pub fn api_destination_name<'a>(&self, arn: &'a str) -> Result<Option<&'a str>, ArnError> {
        match self.parse(arn)? {
            Resource::ApiDestination { name, .. } => Ok(Some(name)),
            _ => Ok(None),
        }
    }

    fn foreign(&self, arn: &str) -> ArnError {
        ArnError::Foreign {
            arn: arn.into(),
            region: self.region.clone(),
            account: self.account.clone(),
        }
    }
}

/// `NAME/ID`, both non-empty.
fn name_and_id<'a>(
    arn: &str,
    rest: &'a str,
    kind: &'static str,
) -> Result<(&'a str, &'a str), ArnError> {
    match rest.split_once('/') {
        Some((name, id)) if !name.is_empty() && !id.is_empty() => Ok((name, id)),
        _ => Err(ArnError::Incomplete {
            arn: arn.into(),
            kind,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arns() -> Arns {
        Arns::new(&AwsConfig {
            region: "us-east-1".into(),
            account: "000000000000".into(),
        })
    }

    #[test]
    fn every_arn_the_server_writes_parses_back() {
        let arns = arns();
        for resource in [
            Resource::Bus("default"),
            Resource::Bus("orders"),
            Resource::Rule {
                bus: "default",
                name: "r",
            },
            Resource::Rule {
                bus: "orders",
                name: "r",
            },
            Resource::Connection {
                name: "sink",
                id: "7b2c",
            },
            Resource::ApiDestination {
                name: "d",
                id: "9e1f",
            },
        ] {
            assert_eq!(arns.parse(&arns.of(resource)), Ok(resource));
        }
    }

    #[test]
    fn archive_arns_name_their_archive() {
        let arns = arns();
        let arn = arns.archive("orders.all");
        assert_eq!(
            arn,
            "arn:aws:events:us-east-1:000000000000:archive/orders.all"
        );
        assert_eq!(arns.archive_name(&arn), Some("orders.all"));
        for other in [
            "arn:aws:events:us-east-1:000000000000:archive/",
            "arn:aws:events:us-east-1:000000000000:archive/a/b",
            "arn:aws:events:eu-west-1:000000000000:archive/a",
            "arn:aws:events:us-east-1:000000000000:event-bus/a",
        ] {
            assert_eq!(arns.archive_name(other), None, "{other}");
        }
    }

    #[test]
    fn a_connection_arn_without_its_id_is_incomplete_not_missing() {
        let arns = arns();
        for arn in [
            "arn:aws:events:us-east-1:000000000000:connection/sinkconn",
            "arn:aws:events:us-east-1:000000000000:connection/sinkconn/",
        ] {
            let error = arns.connection_name(arn).expect_err("no id");
            assert!(
                matches!(
                    error,
                    ArnError::Incomplete {
                        kind: "connection",
                        ..
                    }
                ),
                "{error:?}"
            );
        }
        let error = arns
            .api_destination_name("arn:aws:events:us-east-1:000000000000:api-destination/d")
            .expect_err("no id");
        assert!(matches!(
            error,
            ArnError::Incomplete {
                kind: "api-destination",
                ..
            }
        ));
        assert_eq!(
            arns.connection_name("arn:aws:events:us-east-1:000000000000:rule/r"),
            Ok(None)
        );
    }

    #[test]
    fn arns_of_other_places_and_shapes_are_foreign() {
        let arns = arns();
        for arn in [
            "arn:aws:events:eu-west-1:000000000000:event-bus/default",
            "arn:aws:events:us-east-1:111111111111:rule/r",
            "arn:aws:events:us-east-1:000000000000:archive/a",
            "arn:aws:events:us-east-1:000000000000:rule/",
            "arn:aws:events:us-east-1:000000000000:rule/a/b/c",
            "arn:aws:events:us-east-1:000000000000:event-bus/",
            "not an arn",
        ] {
            assert!(
                matches!(arns.parse(arn), Err(ArnError::Foreign { .. })),
                "{arn}"
            );
        }
    }
}
