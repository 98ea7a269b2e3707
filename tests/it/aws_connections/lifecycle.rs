//! A connection's life: DeauthorizeConnection removes its secrets and
//! UpdateConnection authorizes it again, partial updates merge, ListConnections
//! pages and filters, and everything survives graceful and `kill -9` restarts.

use super::*;

#[tokio::test]
async fn deauthorize_removes_secrets_until_update_authorizes_again() {
    let server = server().await;
    let client = sdk(&server);
    let arn = create(&client, "basic", Kind::Basic, basic()).await;
    create_destination(&client, "orders", &arn).await;

    let out = client
        .deauthorize_connection()
        .name("basic")
        .send()
        .await
        .expect("deauthorize");
    assert_eq!(out.connection_state(), Some(&ConnectionState::Deauthorized));
    let authorized_before = out.last_authorized_time().copied().expect("was authorized");
    let described = describe(&client, "basic").await;
    assert!(described.state_reason().is_some());
    let auth = described.auth_parameters().expect("auth parameters");
    assert_eq!(
        auth.basic_auth_parameters().and_then(|b| b.username()),
        Some("alice")
    );
    let headers = auth
        .invocation_http_parameters()
        .expect("plain ones stay")
        .header_parameters();
    assert_eq!(
        headers.len(),
        1,
        "the secret header is removed: {headers:?}"
    );
    let inactive = destination_state(&client, "orders").await;
    assert_eq!(inactive, Some(ApiDestinationState::Inactive));

    let other = client
        .update_connection()
        .name("basic")
        .description("no credentials")
        .send()
        .await;
    let other = other.expect("update the description");
    assert_eq!(
        other.connection_state(),
        Some(&ConnectionState::Deauthorized)
    );
    let password = BasicUpdate::builder().password("new-password").build();
    let out = update_auth(
        &client,
        "basic",
        AuthUpdate::builder()
            .basic_auth_parameters(password)
            .build(),
    )
    .await;
    assert_eq!(out.connection_state(), Some(&ConnectionState::Authorized));
    assert!(out.last_authorized_time().expect("set").secs() >= authorized_before.secs());
    assert_eq!(
        destination_state(&client, "orders").await,
        Some(ApiDestinationState::Active)
    );

    // A partial update keeps the other fields; a new type needs all its parameters.
    create(&client, "oauth", Kind::OauthClientCredentials, oauth()).await;
    let secret = OAuthClientUpdate::builder()
        .client_secret("rotated")
        .build();
    let partial = OAuthUpdate::builder().client_parameters(secret).build();
    update_auth(
        &client,
        "oauth",
        AuthUpdate::builder().o_auth_parameters(partial).build(),
    )
    .await;
    let oauth = describe(&client, "oauth").await;
    let oauth = oauth
        .auth_parameters()
        .and_then(|a| a.o_auth_parameters())
        .expect("OAuth");
    assert_eq!(
        oauth.client_parameters().and_then(|c| c.client_id()),
        Some("svc")
    );
    assert_eq!(oauth.authorization_endpoint(), Some(OAUTH_ENDPOINT));
    let retype = client
        .update_connection()
        .name("oauth")
        .authorization_type(Kind::ApiKey);
    let retype = retype.send().await.expect_err("no API key given");
    assert_eq!(retype.code(), Some("ValidationException"));
    let key = ApiKeyUpdate::builder()
        .api_key_name("k")
        .api_key_value(API_KEY)
        .build();
    let key = AuthUpdate::builder().api_key_auth_parameters(key).build();
    let retype = client
        .update_connection()
        .name("oauth")
        .authorization_type(Kind::ApiKey);
    retype
        .auth_parameters(key)
        .send()
        .await
        .expect("a new type with all its parameters");
    assert_eq!(
        describe(&client, "oauth").await.authorization_type(),
        Some(&Kind::ApiKey)
    );
    assert_no_secrets(&server, &["basic", "oauth"]).await;
}

#[tokio::test]
async fn list_connections_pages_and_filters_by_prefix_and_state() {
    let server = server().await;
    let client = sdk(&server);
    for name in ["c-3", "c-1", "other", "c-2", "c-4"] {
        create(&client, name, Kind::ApiKey, api_key()).await;
    }
    for name in ["c-2", "other"] {
        client
            .deauthorize_connection()
            .name(name)
            .send()
            .await
            .expect("deauthorize");
    }
    let all = |prefix: Option<&'static str>, state: Option<ConnectionState>, limit: i32| {
        let client = client.clone();
        async move {
            let (mut names, mut token) = (Vec::new(), None);
            loop {
                let page = client
                    .list_connections()
                    .set_name_prefix(prefix.map(String::from));
                let page = page.set_connection_state(state.clone()).limit(limit);
                let page = page.set_next_token(token).send().await.expect("list");
                assert!(page.connections().len() <= usize::try_from(limit).expect("positive"));
                names.extend(
                    page.connections()
                        .iter()
                        .filter_map(|c| c.name().map(String::from)),
                );
                token = page.next_token().map(String::from);
                if token.is_none() {
                    return names;
                }
            }
        }
    };
    assert_eq!(
        all(None, None, 2).await,
        ["c-1", "c-2", "c-3", "c-4", "other"]
    );
    assert_eq!(all(Some("c-"), None, 1).await, ["c-1", "c-2", "c-3", "c-4"]);
    assert_eq!(
        all(None, Some(ConnectionState::Deauthorized), 100).await,
        ["c-2", "other"]
    );
    let authorized = all(Some("c-"), Some(ConnectionState::Authorized), 2).await;
    assert_eq!(authorized, ["c-1", "c-3", "c-4"]);
    for body in [
        json!({"Limit": 0}),
        json!({"Limit": 101}),
        json!({"ConnectionState": "SLEEPING"}),
        json!({"NamePrefix": "a b"}),
    ] {
        assert_eq!(
            refused(&server, "ListConnections", &body).await,
            "ValidationException"
        );
    }
}

#[tokio::test]
async fn connections_survive_restarts_with_their_secrets() {
    let mut server = server().await;
    let client = sdk(&server);
    let arn = create(&client, "basic", Kind::Basic, basic()).await;
    create(&client, "key", Kind::ApiKey, api_key()).await;
    create(&client, "oauth", Kind::OauthClientCredentials, oauth()).await;
    client
        .deauthorize_connection()
        .name("key")
        .send()
        .await
        .expect("deauthorize");
    let destination_arn = create_destination(&client, "orders", &arn).await;
    let before = describe(&client, "basic").await;

    for stop in [Stop::Graceful, Stop::Kill9] {
        stop.apply(&mut server).await;
        server.restart().await;
        let client = sdk(&server);
        let after = describe(&client, "basic").await;
        assert_eq!(
            after.connection_arn(),
            before.connection_arn(),
            "after {stop:?}"
        );
        assert_eq!(
            after.auth_parameters(),
            before.auth_parameters(),
            "after {stop:?}"
        );
        assert_eq!(after.last_modified_time(), before.last_modified_time());
        assert_eq!(after.last_authorized_time(), before.last_authorized_time());
        let key = describe(&client, "key").await;
        assert_eq!(
            key.connection_state(),
            Some(&ConnectionState::Deauthorized),
            "after {stop:?}"
        );
        let orders = client
            .describe_api_destination()
            .name("orders")
            .send()
            .await;
        let orders = orders.expect("describe destination");
        assert_eq!(orders.api_destination_arn(), Some(destination_arn.as_str()));
        assert_eq!(orders.connection_arn(), Some(arn.as_str()));
        assert_no_secrets(&server, &["basic", "key", "oauth"]).await;
    }
    // The password survived too: changing only the user name keeps it authorized.
    let username = BasicUpdate::builder().username("bob").build();
    let auth = AuthUpdate::builder()
        .basic_auth_parameters(username)
        .build();
    let out = update_auth(&sdk(&server), "basic", auth).await;
    assert_eq!(out.connection_state(), Some(&ConnectionState::Authorized));
}
