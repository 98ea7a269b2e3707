//! Connections and API destinations through the AWS SDK for Rust, with what the
//! submodules share. Here: every auth type created and described without its
//! secrets (not in any response byte, not in the server's logs) and AWS's errors.
//! `lifecycle`: deauthorize and re-authorize, listing, restarts.
//! `destinations`: API destinations.

mod destinations;
mod lifecycle;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::operation::create_connection::CreateConnectionError;
use aws_sdk_eventbridge::operation::describe_connection::{
    DescribeConnectionError, DescribeConnectionOutput,
};
use aws_sdk_eventbridge::operation::update_connection::UpdateConnectionOutput;
use aws_sdk_eventbridge::types::{
    ApiDestinationHttpMethod, ApiDestinationState, ConnectionAuthorizationType as Kind,
    ConnectionBodyParameter, ConnectionHeaderParameter, ConnectionHttpParameters,
    ConnectionOAuthHttpMethod, ConnectionQueryStringParameter, ConnectionState,
    CreateConnectionApiKeyAuthRequestParameters as ApiKey,
    CreateConnectionAuthRequestParameters as Auth,
    CreateConnectionBasicAuthRequestParameters as Basic,
    CreateConnectionOAuthClientRequestParameters as OAuthClient,
    CreateConnectionOAuthRequestParameters as OAuth,
    UpdateConnectionApiKeyAuthRequestParameters as ApiKeyUpdate,
    UpdateConnectionAuthRequestParameters as AuthUpdate,
    UpdateConnectionBasicAuthRequestParameters as BasicUpdate,
    UpdateConnectionOAuthClientRequestParameters as OAuthClientUpdate,
    UpdateConnectionOAuthRequestParameters as OAuthUpdate,
};
use serde_json::{Value, json};

use crate::support::api::uuid_like;
use crate::support::aws::sdk;
use crate::support::{Stop, TestServer};

const PASSWORD: &str = "pw-3f9a-never-shown";
const API_KEY: &str = "key-7c1e-never-shown";
const CLIENT_SECRET: &str = "client-5d2b-never-shown";
const HEADER_SECRET: &str = "hdr-91ab-never-shown";
const BODY_SECRET: &str = "body-44fe-never-shown";
const SECRETS: [&str; 5] = [PASSWORD, API_KEY, CLIENT_SECRET, HEADER_SECRET, BODY_SECRET];
const ARN: &str = "arn:aws:events:us-east-1:000000000000:";
const OAUTH_ENDPOINT: &str = "http://127.0.0.1:9/oauth/token";

/// A server logging all it can, so that the logs check means something.
async fn server() -> TestServer {
    TestServer::builder().env("RUST_LOG", "trace").start().await
}

fn header(key: &str, value: &str, secret: bool) -> ConnectionHeaderParameter {
    let header = ConnectionHeaderParameter::builder().key(key).value(value);
    header.is_value_secret(secret).build()
}

/// BASIC, with a plain and a secret invocation header and a query parameter.
fn basic() -> Auth {
    let query = ConnectionQueryStringParameter::builder()
        .key("v")
        .value("2");
    let invocation = ConnectionHttpParameters::builder()
        .header_parameters(header("x-tenant", "acme", false))
        .header_parameters(header("x-signature", HEADER_SECRET, true))
        .query_string_parameters(query.build());
    let basic = Basic::builder().username("alice").password(PASSWORD);
    Auth::builder()
        .basic_auth_parameters(basic.build().expect("complete"))
        .invocation_http_parameters(invocation.build())
        .build()
}

fn api_key() -> Auth {
    let key = ApiKey::builder()
        .api_key_name("x-api-key")
        .api_key_value(API_KEY);
    let key = key.build().expect("complete");
    Auth::builder().api_key_auth_parameters(key).build()
}

/// OAuth with a secret body parameter and an http:// endpoint (AWS wants https://).
fn oauth() -> Auth {
    let client = OAuthClient::builder()
        .client_id("svc")
        .client_secret(CLIENT_SECRET);
    let audience = ConnectionBodyParameter::builder()
        .key("audience")
        .value(BODY_SECRET);
    let http =
        ConnectionHttpParameters::builder().body_parameters(audience.is_value_secret(true).build());
    let oauth = OAuth::builder()
        .client_parameters(client.build().expect("complete"))
        .authorization_endpoint(OAUTH_ENDPOINT)
        .http_method(ConnectionOAuthHttpMethod::Post)
        .o_auth_http_parameters(http.build());
    Auth::builder()
        .o_auth_parameters(oauth.build().expect("complete"))
        .build()
}

/// Creates a connection; returns its ARN.
async fn create(client: &Client, name: &str, kind: Kind, auth: Auth) -> String {
    let out = client
        .create_connection()
        .name(name)
        .authorization_type(kind);
    let out = out.auth_parameters(auth).send().await;
    let out = out.unwrap_or_else(|e| panic!("create {name}: {e:?}"));
    assert_eq!(out.connection_state(), Some(&ConnectionState::Authorized));
    out.connection_arn().expect("an ARN").to_string()
}

/// Creates an API destination; returns its ARN.
async fn create_destination(client: &Client, name: &str, connection_arn: &str) -> String {
    let out = client
        .create_api_destination()
        .name(name)
        .connection_arn(connection_arn);
    let out = out.invocation_endpoint("http://127.0.0.1:9/orders/*");
    let out = out.http_method(ApiDestinationHttpMethod::Post).send().await;
    let out = out.unwrap_or_else(|e| panic!("create destination {name}: {e:?}"));
    assert_eq!(
        out.api_destination_state(),
        Some(&ApiDestinationState::Active)
    );
    out.api_destination_arn().expect("an ARN").to_string()
}

async fn describe(client: &Client, name: &str) -> DescribeConnectionOutput {
    let out = client.describe_connection().name(name).send().await;
    out.unwrap_or_else(|e| panic!("describe {name}: {e:?}"))
}

async fn update_auth(client: &Client, name: &str, auth: AuthUpdate) -> UpdateConnectionOutput {
    let out = client
        .update_connection()
        .name(name)
        .auth_parameters(auth)
        .send()
        .await;
    out.unwrap_or_else(|e| panic!("update {name}: {e:?}"))
}

async fn destination_state(client: &Client, name: &str) -> Option<ApiDestinationState> {
    let out = client.describe_api_destination().name(name).send().await;
    out.expect("describe destination")
        .api_destination_state()
        .cloned()
}

/// `__type` of a raw AWS call that must fail.
async fn refused(server: &TestServer, operation: &str, body: &Value) -> String {
    let reply = server.aws(operation, &body.to_string()).await;
    assert_eq!(reply.status, 400, "{operation} {body}: {reply:?}");
    assert!(
        SECRETS.iter().all(|s| !reply.text().contains(s)),
        "{reply:?}"
    );
    reply.aws_type()
}

/// No secret in the raw Describe and List answers, nor in the server's logs.
async fn assert_no_secrets(server: &TestServer, names: &[&str]) {
    let mut seen = vec![
        server.aws("ListConnections", "{}").await,
        server.aws("ListApiDestinations", "{}").await,
    ];
    for name in names {
        seen.push(
            server
                .aws("DescribeConnection", &json!({ "Name": name }).to_string())
                .await,
        );
    }
    assert!(seen.iter().all(|reply| reply.status == 200), "{seen:?}");
    let texts: Vec<String> = seen
        .iter()
        .map(|r| r.text())
        .chain([server.logs()])
        .collect();
    for (text, secret) in texts.iter().flat_map(|t| SECRETS.map(|s| (t, s))) {
        assert!(!text.contains(secret), "{secret} leaked in {text}");
    }
}

#[tokio::test]
async fn connections_of_every_auth_type_are_described_without_secrets() {
    let server = server().await;
    let client = sdk(&server);
    let arn = create(&client, "basic", Kind::Basic, basic()).await;
    let uuid = arn.strip_prefix(&format!("{ARN}connection/basic/"));
    assert!(uuid.is_some_and(uuid_like), "connection/NAME/UUID: {arn}");
    create(&client, "key", Kind::ApiKey, api_key()).await;
    create(&client, "oauth", Kind::OauthClientCredentials, oauth()).await;

    let basic = describe(&client, "basic").await;
    assert_eq!(basic.connection_arn(), Some(arn.as_str()));
    assert_eq!(basic.authorization_type(), Some(&Kind::Basic));
    assert_eq!(basic.connection_state(), Some(&ConnectionState::Authorized));
    let secret_arn = basic.secret_arn().expect("a SecretArn");
    assert!(secret_arn.starts_with("arn:aws:secretsmanager:us-east-1:000000000000:secret:"));
    assert!(basic.last_authorized_time().is_some() && basic.creation_time().is_some());
    let auth = basic.auth_parameters().expect("auth parameters");
    assert_eq!(
        auth.basic_auth_parameters().and_then(|b| b.username()),
        Some("alice")
    );
    let invocation = auth
        .invocation_http_parameters()
        .expect("invocation parameters");
    let headers = invocation.header_parameters();
    assert_eq!(
        (headers[0].key(), headers[0].value()),
        (Some("x-tenant"), Some("acme"))
    );
    assert_eq!(headers[1].key(), Some("x-signature"));
    assert!(
        headers[1].is_value_secret() && headers[1].value().is_none(),
        "{headers:?}"
    );
    assert_eq!(invocation.query_string_parameters()[0].value(), Some("2"));

    let key = describe(&client, "key").await;
    let key = key
        .auth_parameters()
        .and_then(|a| a.api_key_auth_parameters());
    assert_eq!(key.and_then(|k| k.api_key_name()), Some("x-api-key"));
    let oauth = describe(&client, "oauth").await;
    assert_eq!(
        oauth.authorization_type(),
        Some(&Kind::OauthClientCredentials)
    );
    let oauth = oauth.auth_parameters().and_then(|a| a.o_auth_parameters());
    let oauth = oauth.expect("OAuth parameters");
    assert_eq!(
        oauth.client_parameters().and_then(|c| c.client_id()),
        Some("svc")
    );
    assert_eq!(oauth.authorization_endpoint(), Some(OAUTH_ENDPOINT));
    assert_eq!(oauth.http_method(), Some(&ConnectionOAuthHttpMethod::Post));
    let audience = &oauth
        .o_auth_http_parameters()
        .expect("kept")
        .body_parameters()[0];
    assert!(audience.is_value_secret() && audience.value().is_none());

    let listed = client.list_connections().send().await.expect("list");
    let names: Vec<_> = listed
        .connections()
        .iter()
        .filter_map(|c| c.name())
        .collect();
    assert_eq!(names, ["basic", "key", "oauth"]);
    assert_no_secrets(&server, &["basic", "key", "oauth"]).await;
}

#[tokio::test]
async fn bad_connections_get_aws_errors_that_quote_no_secret() {
    let server = server().await;
    let client = sdk(&server);
    create(&client, "taken", Kind::Basic, basic()).await;
    let again = client
        .create_connection()
        .name("taken")
        .authorization_type(Kind::ApiKey);
    let error = again
        .auth_parameters(api_key())
        .send()
        .await
        .expect_err("duplicate");
    let error = error.into_service_error();
    assert!(
        matches!(
            error,
            CreateConnectionError::ResourceAlreadyExistsException(_)
        ),
        "{error:?}"
    );

    let basic =
        |password: &str| json!({"BasicAuthParameters": {"Username": "u", "Password": password}});
    let key = json!({"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": API_KEY}});
    let oauth = |endpoint: &str, method: &str| {
        json!({"OAuthParameters": {
        "ClientParameters": {"ClientID": "c", "ClientSecret": CLIENT_SECRET},
        "AuthorizationEndpoint": endpoint, "HttpMethod": method}})
    };
    let both = json!({"ApiKeyAuthParameters": key["ApiKeyAuthParameters"], "BasicAuthParameters": basic(PASSWORD)["BasicAuthParameters"]});
    for (name, kind, auth) in [
        ("n", "BASIC", Value::Null),
        ("n", "BASIC", key.clone()),
        ("n", "API_KEY", both),
        ("n", "DIGEST", basic(PASSWORD)),
        ("bad name", "BASIC", basic(PASSWORD)),
        ("n", "BASIC", basic(&format!("{PASSWORD}:with-colon"))),
        (
            "n",
            "OAUTH_CLIENT_CREDENTIALS",
            oauth("ftp://auth.example.com/token", "POST"),
        ),
        (
            "n",
            "OAUTH_CLIENT_CREDENTIALS",
            oauth("https://auth.example.com/token", "PATCH"),
        ),
    ] {
        let body = json!({"Name": name, "AuthorizationType": kind, "AuthParameters": auth});
        assert_eq!(
            refused(&server, "CreateConnection", &body).await,
            "ValidationException",
            "{body}"
        );
    }

    // A secret of the wrong JSON type is not quoted back either.
    let numeric = json!({"Name": "n", "AuthorizationType": "BASIC",
        "AuthParameters": {"BasicAuthParameters": {"Username": "u", "Password": 987_654_321_987_u64}}});
    let reply = server.aws("CreateConnection", &numeric.to_string()).await;
    assert_eq!(reply.aws_type(), "SerializationException", "{reply:?}");
    assert!(!reply.text().contains("987654321987"), "{reply:?}");

    let missing = client
        .describe_connection()
        .name("nope")
        .send()
        .await
        .expect_err("missing");
    let missing = missing.into_service_error();
    assert!(
        matches!(
            missing,
            DescribeConnectionError::ResourceNotFoundException(_)
        ),
        "{missing:?}"
    );
    for operation in [
        "UpdateConnection",
        "DeauthorizeConnection",
        "DeleteConnection",
    ] {
        let not_found = refused(&server, operation, &json!({"Name": "nope"})).await;
        assert_eq!(not_found, "ResourceNotFoundException", "{operation}");
    }
    let listed = client.list_connections().send().await.expect("list");
    assert_eq!(listed.connections().len(), 1, "nothing else was stored");
    assert_no_secrets(&server, &["taken"]).await;
}
