//! The request a target's configuration produces, checked without a network.

use super::*;
use crate::catalog::{HttpParameters, ParameterSet, RetryPolicy, TargetRecord};
use crate::config::AwsConfig;
use crate::event::{Event, EventId, NewEvent, Seq};
use crate::transform::InputSpec;

fn arns() -> Arns {
    Arns::new(&AwsConfig {
        region: "us-east-1".into(),
        account: "000000000000".into(),
    })
}

fn event() -> RenderedEvent {
    RenderedEvent::render(plain_event())
}

fn plain_event() -> Event {
    NewEvent {
        bus: "default".into(),
        source: "shop".into(),
        detail_type: "OrderPlaced".into(),
        time_ms: 0,
        ingested_ms: 0,
        account: "000000000000".into(),
        region: "us-east-1".into(),
        resources: vec![],
        detail: r#"{"id":"a/b","kind":"big"}"#.into(),
        replay: None,
    }
    .into_event(EventId::for_seq(Seq(7)))
}

fn route(arn: &str, http: HttpParameters) -> TargetRoute {
    TargetRoute {
        bus: "default".into(),
        rule: "orders".into(),
        rule_arn: "arn:aws:events:us-east-1:000000000000:rule/orders".into(),
        rule_enabled: true,
        target: TargetRecord {
            id: "hook".into(),
            uid: 1,
            arn: arn.into(),
            role_arn: None,
            input: InputSpec::Event,
            http,
            dead_letter_arn: None,
            queue: "default".into(),
            retry: RetryPolicy::default(),
        },
    }
}

fn parameter(key: &str, value: &str) -> Parameter {
    Parameter {
        key: key.into(),
        value: value.into(),
        secret: false,
    }
}

fn connection(auth: ConnectionAuth, invocation: ParameterSet) -> ConnectionRecord {
    ConnectionRecord {
        name: "conn".into(),
        uuid: "c-1".into(),
        description: None,
        auth,
        invocation,
        state: ConnectionState::Authorized,
        state_reason: None,
        created_ms: 0,
        modified_ms: 0,
        authorized_ms: Some(0),
    }
}

/// A directory with one API destination `dest` (`method` `endpoint`, 5/s) on `connection`.
struct World {
    arns: Arns,
    destinations: HashMap<String, Arc<ApiDestinationRecord>>,
    connections: HashMap<String, Arc<ConnectionRecord>>,
    signing: HashMap<String, Arc<SigningKeys>>,
}

impl World {
    fn new(method: &str, endpoint: &str, connection: ConnectionRecord) -> World {
        let destination = ApiDestinationRecord {
            name: "dest".into(),
            uuid: "d-1".into(),
            description: None,
            connection: connection.name.clone(),
            endpoint: endpoint.into(),
            method: method.into(),
            rate_per_sec: 5,
            created_ms: 0,
            modified_ms: 0,
        };
        World {
            arns: arns(),
            destinations: HashMap::from([("dest".into(), Arc::new(destination))]),
            connections: HashMap::from([(connection.name.clone(), Arc::new(connection))]),
            signing: HashMap::new(),
        }
    }

    fn directory(&self) -> Directory<'_> {
        Directory {
            arns: &self.arns,
            destinations: &self.destinations,
            connections: &self.connections,
            signing: &self.signing,
        }
    }

    fn arn(&self) -> String {
        self.arns.api_destination(&self.destinations["dest"])
    }
}

fn header<'a>(outgoing: &'a Outgoing<'_>, name: &str) -> Option<&'a str> {
    outgoing.headers.get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn a_plain_url_target_posts_the_envelope_with_identifying_headers() {
    let rendered = event();
    let (event, envelope) = (&rendered.event, &rendered.envelope);
    let route = route("http://127.0.0.1:9/in", HttpParameters::default());
    let empty = HashMap::new();
    let no_connections = HashMap::new();
    let arns = arns();
    let no_signing = HashMap::new();
    let directory = Directory {
        arns: &arns,
        destinations: &empty,
        connections: &no_connections,
        signing: &no_signing,
    };
    let outgoing = build(&directory, &route, &rendered).expect("built");
    assert_eq!(outgoing.method, reqwest::Method::POST);
    assert_eq!(outgoing.url, "http://127.0.0.1:9/in");
    assert_eq!(outgoing.body.as_deref(), Some(envelope.as_bytes()));
    assert_eq!(header(&outgoing, "content-type"), Some("application/json"));
    assert_eq!(
        header(&outgoing, "user-agent"),
        Some(crate::delivery::USER_AGENT)
    );
    assert_eq!(
        header(&outgoing, "webhook-id"),
        Some(event.id.to_string().as_str())
    );
    assert!(matches!(outgoing.auth, Auth::None));
    assert!(outgoing.rate_limit.is_none() && outgoing.query.is_empty());
}

#[test]
fn an_api_key_connection_wins_over_parameters_and_joins_its_own() {
    let invocation = ParameterSet {
        headers: vec![parameter("x-team", "ops")],
        query: vec![parameter("q", "conn")],
        body: vec![parameter("extra", "1")],
    };
    let world = World::new(
        "PUT",
        "https://example.test/orders/*",
        connection(
            ConnectionAuth::ApiKey {
                name: "x-api-key".into(),
                value: "secret".into(),
            },
            invocation,
        ),
    );
    let http = HttpParameters {
        path_values: vec!["$.detail.id".into()],
        headers: [
            ("x-api-key".into(), "target".into()),
            ("x-team".into(), "t".into()),
        ]
        .into(),
        query: [
            ("q".into(), "target".into()),
            ("kind".into(), "$.detail.kind".into()),
        ]
        .into(),
    };
    let route = route(&world.arn(), http);
    let event = event();
    let outgoing = build(&world.directory(), &route, &event).expect("built");
    assert_eq!(outgoing.method, reqwest::Method::PUT);
    // A dynamic path parameter is read from the event and escaped.
    assert_eq!(outgoing.url, "https://example.test/orders/a%2Fb");
    assert_eq!(header(&outgoing, "x-api-key"), Some("secret"));
    assert_eq!(header(&outgoing, "x-team"), Some("ops"));
    let mut query = outgoing.query.clone();
    query.sort();
    assert_eq!(
        query,
        [("kind".into(), "big".into()), ("q".into(), "conn".into())]
    );
    let body: serde_json::Value =
        serde_json::from_slice(outgoing.body.as_deref().expect("a body")).expect("json");
    assert_eq!(body["extra"], "1");
    assert_eq!(body["source"], "shop");
    assert_eq!(outgoing.rate_limit, Some(("dest", 5)));
}

#[test]
fn basic_and_oauth_connections_leave_the_authorization_header_to_the_sender() {
    for auth in [
        ConnectionAuth::Basic {
            username: "u".into(),
            password: "p".into(),
        },
        ConnectionAuth::OAuth {
            client_id: "id".into(),
            client_secret: "s".into(),
            endpoint: "http://127.0.0.1:9/token".into(),
            method: "POST".into(),
            parameters: ParameterSet::default(),
        },
    ] {
        let world = World::new(
            "GET",
            "http://127.0.0.1:9/x",
            connection(auth, ParameterSet::default()),
        );
        let http = HttpParameters {
            headers: [("authorization".into(), "Bearer forged".into())].into(),
            ..HttpParameters::default()
        };
        let route = route(&world.arn(), http);
        let event = event();
        let outgoing = build(&world.directory(), &route, &event).expect("built");
        assert!(outgoing.headers.get("authorization").is_none());
        assert!(outgoing.body.is_none(), "GET sends no body");
        assert!(matches!(
            outgoing.auth,
            Auth::Basic {
                username: "u",
                password: "p"
            } | Auth::Bearer(_)
        ));
    }
}

#[test]
fn configuration_faults_are_typed_and_not_retried() {
    let mut deauthorized = connection(
        ConnectionAuth::Basic {
            username: "u".into(),
            password: "p".into(),
        },
        ParameterSet::default(),
    );
    deauthorized.state = ConnectionState::Deauthorized;
    let world = World::new("POST", "http://127.0.0.1:9/*", deauthorized);
    let event = event();
    let reason = |route: &TargetRoute| {
        build(&world.directory(), route, &event)
            .err()
            .map(|f| (f.reason, f.retryable()))
    };
    assert_eq!(
        reason(&route(&world.arn(), HttpParameters::default())),
        Some((Reason::ConnectionDeauthorized, false))
    );
    let unknown = world.arn().replace("dest", "nope");
    assert_eq!(
        reason(&route(&unknown, HttpParameters::default())),
        Some((Reason::Configuration, false))
    );
    let bad_header = HttpParameters {
        headers: [("x".into(), "line\nbreak".into())].into(),
        ..HttpParameters::default()
    };
    assert_eq!(
        reason(&route("http://127.0.0.1:9/", bad_header)),
        Some((Reason::Configuration, false))
    );
}

#[test]
fn path_parameters_fill_the_stars_in_order_and_are_escaped() {
    let url = fill_path("http://h/a/*/b/*", &["x y".into(), "1/2".into()]).expect("filled");
    assert_eq!(url, "http://h/a/x%20y/b/1%2F2");
    assert!(fill_path("http://h/*", &[]).is_err());
    assert_eq!(fill_path("http://h/", &[]).expect("no stars"), "http://h/");
}

#[test]
fn body_parameters_join_json_objects_only() {
    let p = [Parameter {
        key: "k".into(),
        value: "v".into(),
        secret: true,
    }];
    let merged: serde_json::Value =
        serde_json::from_slice(&merge_body_parameters(br#"{"a":1,"k":0}"#.to_vec(), &p))
            .expect("json");
    assert_eq!(merged, serde_json::json!({"a":1,"k":"v"}));
    assert_eq!(merge_body_parameters(b"[1]".to_vec(), &p), b"[1]");
}
