//! A connection's `AuthorizationType` and `AuthParameters` on the wire: parsed
//! and validated into [`ConnectionAuth`] and [`ParameterSet`] on create, merged
//! into them on update, and shown without secrets on describe.
//!
//! Secrets (`Password`, `ApiKeyValue`, `ClientSecret`) are write-only: the
//! views below have no field that could carry one, and no error message quotes
//! a value. Header, query string and body parameters are `connection_parameters`.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::AwsError;
use super::connection_parameters::{
    HttpParametersIn, HttpParametersView, parameter_set, patch_set,
};
use super::constraints::{endpoint, one_of};
use crate::catalog::{ConnectionAuth, ParameterSet};

const TYPES: [&str; 3] = ["BASIC", "API_KEY", "OAUTH_CLIENT_CREDENTIALS"];
const OAUTH_METHODS: [&str; 3] = ["GET", "POST", "PUT"];
const MAX_CREDENTIAL_CHARS: usize = 512;

/// `CreateConnectionAuthRequestParameters` and `UpdateConnectionAuthRequestParameters`:
/// the same fields, all optional here; which are required is decided below.
#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthParametersIn {
    basic_auth_parameters: Option<BasicIn>,
    api_key_auth_parameters: Option<ApiKeyIn>,
    #[serde(rename = "OAuthParameters")]
    oauth_parameters: Option<OAuthIn>,
    invocation_http_parameters: Option<HttpParametersIn>,
    connectivity_parameters: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BasicIn {
    username: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiKeyIn {
    api_key_name: Option<String>,
    api_key_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OAuthIn {
    client_parameters: Option<ClientIn>,
    authorization_endpoint: Option<String>,
    http_method: Option<String>,
    #[serde(rename = "OAuthHttpParameters")]
    oauth_http_parameters: Option<HttpParametersIn>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ClientIn {
    #[serde(rename = "ClientID")]
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The credentials and parameters of a new connection of type `kind`.
pub fn create(
    kind: Option<String>,
    params: Option<AuthParametersIn>,
) -> Result<(ConnectionAuth, ParameterSet), AwsError> {
    let kind = kind.ok_or_else(|| AwsError::validation("AuthorizationType is required."))?;
    one_of("AuthorizationType", &kind, &TYPES)?;
    let mut params = params.ok_or_else(|| AwsError::validation("AuthParameters is required."))?;
    only_for(&kind, &params)?;
    let invocation = match params.invocation_http_parameters.take() {
        Some(http) => parameter_set(http, "InvocationHttpParameters")?,
        None => ParameterSet::default(),
    };
    Ok((build(&kind, params)?, invocation))
}

/// Applies UpdateConnection's `AuthorizationType` and `AuthParameters` to the
/// stored values: only the given fields change, and a list of parameters given
/// replaces that list. Changing the type needs all of the new type's
/// parameters. Returns whether credentials were given (which re-authorizes).
pub fn update(
    auth: &mut ConnectionAuth,
    invocation: &mut ParameterSet,
    kind: Option<String>,
    params: Option<AuthParametersIn>,
) -> Result<bool, AwsError> {
    if let Some(kind) = &kind {
        one_of("AuthorizationType", kind, &TYPES)?;
    }
    let mut params = params.unwrap_or_default();
    let kind = kind.unwrap_or_else(|| auth.kind().to_owned());
    only_for(&kind, &params)?;
    if let Some(http) = params.invocation_http_parameters.take() {
        patch_set(invocation, http, "InvocationHttpParameters")?;
    }
    let given = params.basic_auth_parameters.is_some()
        || params.api_key_auth_parameters.is_some()
        || params.oauth_parameters.is_some();
    if kind != auth.kind() {
        *auth = build(&kind, params)?;
        return Ok(true);
    }
    match auth {
        ConnectionAuth::Basic { username, password } => {
            if let Some(basic) = params.basic_auth_parameters {
                set(username, basic.username, "BasicAuthParameters.Username")?;
                set(password, basic.password, "BasicAuthParameters.Password")?;
            }
        }
        ConnectionAuth::ApiKey { name, value } => {
            if let Some(key) = params.api_key_auth_parameters {
                set(name, key.api_key_name, "ApiKeyAuthParameters.ApiKeyName")?;
                set(value, key.api_key_value, "ApiKeyAuthParameters.ApiKeyValue")?;
            }
        }
        ConnectionAuth::OAuth {
            client_id,
            client_secret,
            endpoint: url,
            method,
            parameters,
        } => {
            if let Some(oauth) = params.oauth_parameters {
                let client = oauth.client_parameters.unwrap_or_default();
                set(client_id, client.client_id, "ClientParameters.ClientID")?;
                set(
                    client_secret,
                    client.client_secret,
                    "ClientParameters.ClientSecret",
                )?;
                if let Some(given) = oauth.authorization_endpoint {
                    endpoint("AuthorizationEndpoint", &given)?;
                    *url = given;
                }
                if let Some(given) = oauth.http_method {
                    one_of("OAuthParameters.HttpMethod", &given, &OAUTH_METHODS)?;
                    *method = given;
                }
                if let Some(http) = oauth.oauth_http_parameters {
                    patch_set(parameters, http, "OAuthHttpParameters")?;
                }
            }
        }
    }
    Ok(given)
}

/// Exactly the parameters of `kind` may be given (besides invocation ones).
fn only_for(kind: &str, params: &AuthParametersIn) -> Result<(), AwsError> {
    if params.connectivity_parameters.is_some() {
        return Err(AwsError::validation(
            "ConnectivityParameters (private OAuth endpoints) are not supported by Stowage.",
        ));
    }
    let given = [
        (
            "BASIC",
            "BasicAuthParameters",
            params.basic_auth_parameters.is_some(),
        ),
        (
            "API_KEY",
            "ApiKeyAuthParameters",
            params.api_key_auth_parameters.is_some(),
        ),
        (
            "OAUTH_CLIENT_CREDENTIALS",
            "OAuthParameters",
            params.oauth_parameters.is_some(),
        ),
    ];
    for (other, field, present) in given {
        if present && other != kind {
            return Err(AwsError::validation(format!(
                "{field} cannot be used with AuthorizationType {kind}; give only the parameters of {kind}."
            )));
        }
    }
    Ok(())
}

/// Complete credentials of `kind`: every field of its parameters is required.
fn build(kind: &str, params: AuthParametersIn) -> Result<ConnectionAuth, AwsError> {
    let missing = |field: &str| AwsError::validation(format!("{field} is required for {kind}."));
    match kind {
        "BASIC" => {
            let basic = params
                .basic_auth_parameters
                .ok_or_else(|| missing("BasicAuthParameters"))?;
            Ok(ConnectionAuth::Basic {
                username: credential("BasicAuthParameters.Username", basic.username)?,
                password: credential("BasicAuthParameters.Password", basic.password)?,
            })
        }
        "API_KEY" => {
            let key = params
                .api_key_auth_parameters
                .ok_or_else(|| missing("ApiKeyAuthParameters"))?;
            Ok(ConnectionAuth::ApiKey {
                name: credential("ApiKeyAuthParameters.ApiKeyName", key.api_key_name)?,
                value: credential("ApiKeyAuthParameters.ApiKeyValue", key.api_key_value)?,
            })
        }
        _ => {
            let oauth = params
                .oauth_parameters
                .ok_or_else(|| missing("OAuthParameters"))?;
            let client = oauth
                .client_parameters
                .ok_or_else(|| missing("OAuthParameters.ClientParameters"))?;
            let url = oauth
                .authorization_endpoint
                .ok_or_else(|| missing("OAuthParameters.AuthorizationEndpoint"))?;
            endpoint("AuthorizationEndpoint", &url)?;
            let method = oauth
                .http_method
                .ok_or_else(|| missing("OAuthParameters.HttpMethod"))?;
            one_of("OAuthParameters.HttpMethod", &method, &OAUTH_METHODS)?;
            Ok(ConnectionAuth::OAuth {
                client_id: credential("ClientParameters.ClientID", client.client_id)?,
                client_secret: credential("ClientParameters.ClientSecret", client.client_secret)?,
                endpoint: url,
                method,
                parameters: match oauth.oauth_http_parameters {
                    Some(http) => parameter_set(http, "OAuthHttpParameters")?,
                    None => ParameterSet::default(),
                },
            })
        }
    }
}

fn set(slot: &mut String, given: Option<String>, field: &str) -> Result<(), AwsError> {
    if given.is_some() {
        *slot = credential(field, given)?;
    }
    Ok(())
}

/// A user name, password, key or client field: 1–512 characters of AWS's
/// pattern `^[ \t]*[^\x00-\x1F:\x7F]+([ \t]+[^\x00-\x1F:\x7F]+)*[ \t]*$`.
fn credential(field: &str, value: Option<String>) -> Result<String, AwsError> {
    let value = value.ok_or_else(|| AwsError::validation(format!("{field} is required.")))?;
    let plain = |c: char| !c.is_ascii_control() && c != ':';
    let valid = (1..=MAX_CREDENTIAL_CHARS).contains(&value.chars().count())
        && value.chars().all(|c| c == '\t' || plain(c))
        && value.chars().any(plain);
    if !valid {
        return Err(AwsError::validation(format!(
            "{field} must be 1 to 512 characters without control characters or ':'."
        )));
    }
    Ok(value)
}

/// `ConnectionAuthResponseParameters`: everything but the secrets.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthView {
    #[serde(skip_serializing_if = "Option::is_none")]
    basic_auth_parameters: Option<BasicView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key_auth_parameters: Option<ApiKeyView>,
    #[serde(rename = "OAuthParameters", skip_serializing_if = "Option::is_none")]
    oauth_parameters: Option<OAuthView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invocation_http_parameters: Option<HttpParametersView>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BasicView {
    username: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ApiKeyView {
    api_key_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OAuthView {
    client_parameters: ClientView,
    authorization_endpoint: String,
    http_method: String,
    #[serde(
        rename = "OAuthHttpParameters",
        skip_serializing_if = "Option::is_none"
    )]
    oauth_http_parameters: Option<HttpParametersView>,
}

#[derive(Serialize)]
struct ClientView {
    #[serde(rename = "ClientID")]
    client_id: String,
}

impl AuthView {
    pub fn of(auth: &ConnectionAuth, invocation: &ParameterSet) -> AuthView {
        let mut view = AuthView {
            basic_auth_parameters: None,
            api_key_auth_parameters: None,
            oauth_parameters: None,
            invocation_http_parameters: HttpParametersView::of(invocation),
        };
        match auth {
            ConnectionAuth::Basic { username, .. } => {
                view.basic_auth_parameters = Some(BasicView {
                    username: username.clone(),
                });
            }
            ConnectionAuth::ApiKey { name, .. } => {
                view.api_key_auth_parameters = Some(ApiKeyView {
                    api_key_name: name.clone(),
                });
            }
            ConnectionAuth::OAuth {
                client_id,
                endpoint,
                method,
                parameters,
                ..
            } => {
                view.oauth_parameters = Some(OAuthView {
                    client_parameters: ClientView {
                        client_id: client_id.clone(),
                    },
                    authorization_endpoint: endpoint.clone(),
                    http_method: method.clone(),
                    oauth_http_parameters: HttpParametersView::of(parameters),
                });
            }
        }
        view
    }
}

/// Whether `auth` holds its secret (DeauthorizeConnection removes it).
pub fn has_secret(auth: &ConnectionAuth) -> bool {
    match auth {
        ConnectionAuth::Basic { password, .. } => !password.is_empty(),
        ConnectionAuth::ApiKey { value, .. } => !value.is_empty(),
        ConnectionAuth::OAuth { client_secret, .. } => !client_secret.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(value: serde_json::Value) -> Option<AuthParametersIn> {
        Some(serde_json::from_value(value).expect("valid shape"))
    }

    fn basic() -> ConnectionAuth {
        let (auth, _) = create(
            Some("BASIC".into()),
            params(json!({"BasicAuthParameters": {"Username": "u", "Password": "p w"}})),
        )
        .expect("valid");
        auth
    }

    #[test]
    fn create_takes_exactly_the_parameters_of_the_type() {
        assert_eq!(basic().kind(), "BASIC");
        let mismatched = json!({"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}});
        assert!(create(Some("BASIC".into()), params(mismatched)).is_err());
        let both = json!({
            "BasicAuthParameters": {"Username": "u", "Password": "p"},
            "ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"},
        });
        assert!(create(Some("BASIC".into()), params(both)).is_err());
        let partial = json!({"BasicAuthParameters": {"Username": "u"}});
        assert!(create(Some("BASIC".into()), params(partial)).is_err());
        assert!(create(Some("DIGEST".into()), params(json!({}))).is_err());
        assert!(create(Some("BASIC".into()), None).is_err());
    }

    #[test]
    fn credentials_follow_the_aws_pattern() {
        for good in ["u", " spaced out ", "tab\tinside", "ünïcode"] {
            assert!(credential("F", Some(good.into())).is_ok(), "{good:?}");
        }
        for bad in ["", "\t", "a:b", "new\nline", &"x".repeat(513)] {
            assert!(credential("F", Some(bad.into())).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn update_merges_given_fields_and_a_new_type_needs_all_its_parameters() {
        let mut auth = basic();
        let mut invocation = ParameterSet::default();
        let only_password = params(json!({"BasicAuthParameters": {"Password": "new"}}));
        assert!(update(&mut auth, &mut invocation, None, only_password).expect("valid"));
        let ConnectionAuth::Basic { username, password } = &auth else {
            panic!("still BASIC");
        };
        assert_eq!((username.as_str(), password.as_str()), ("u", "new"));

        let partial_key = params(json!({"ApiKeyAuthParameters": {"ApiKeyName": "k"}}));
        assert!(
            update(
                &mut auth,
                &mut invocation,
                Some("API_KEY".into()),
                partial_key
            )
            .is_err()
        );
        let other_type = params(json!({"ApiKeyAuthParameters": {"ApiKeyName": "k"}}));
        assert!(update(&mut auth, &mut invocation, None, other_type).is_err());
        assert_eq!(auth.kind(), "BASIC");

        let description_only = update(&mut auth, &mut invocation, None, None).expect("valid");
        assert!(!description_only, "no credentials given");
    }

    #[test]
    fn the_view_has_no_secrets() {
        let oauth = params(json!({"OAuthParameters": {
            "ClientParameters": {"ClientID": "id", "ClientSecret": "s3cr3t"},
            "AuthorizationEndpoint": "https://auth.example.com/token",
            "HttpMethod": "POST",
        }}));
        let (auth, invocation) =
            create(Some("OAUTH_CLIENT_CREDENTIALS".into()), oauth).expect("valid");
        let shown = serde_json::to_string(&AuthView::of(&auth, &invocation)).expect("serializes");
        assert!(
            !shown.contains("s3cr3t") && shown.contains(r#""ClientID":"id""#),
            "{shown}"
        );
        assert!(has_secret(&auth) && !has_secret(&auth.without_secrets()));
    }
}
