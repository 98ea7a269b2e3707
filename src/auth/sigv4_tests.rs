//! Vectors of the AWS Signature Version 4 test suite (published by AWS with
//! its General Reference: request, expected `Authorization`), plus the
//! refusals. The requests are restated here as data.

use chrono::TimeZone;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::*;

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const DATE: &str = "20150830T123600Z";
const SCOPE: Scope<'static> = Scope {
    date: "20150830",
    region: "us-east-1",
    service: "service",
};
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Vector {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    query: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    signed: &'static str,
    signature: &'static str,
}

const VECTORS: &[Vector] = &[
    Vector {
        name: "get-vanilla",
        method: "GET",
        path: "/",
        query: "",
        headers: &[("host", "example.amazonaws.com"), ("x-amz-date", DATE)],
        body: "",
        signed: "host;x-amz-date",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "post-vanilla",
        method: "POST",
        path: "/",
        query: "",
        headers: &[("host", "example.amazonaws.com"), ("x-amz-date", DATE)],
        body: "",
        signed: "host;x-amz-date",
        signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    },
    Vector {
        name: "get-header-value-trim",
        method: "GET",
        path: "/",
        query: "",
        headers: &[
            ("host", "example.amazonaws.com"),
            ("my-header1", " value1"),
            ("my-header2", " \"a   b   c\""),
            ("x-amz-date", DATE),
        ],
        body: "",
        signed: "host;my-header1;my-header2;x-amz-date",
        signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    },
    Vector {
        name: "post-x-www-form-urlencoded",
        method: "POST",
        path: "/",
        query: "",
        headers: &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("host", "example.amazonaws.com"),
            ("x-amz-date", DATE),
        ],
        body: "Param1=value1",
        signed: "content-type;host;x-amz-date",
        signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    },
    Vector {
        name: "get-vanilla-query-order-key-case",
        method: "GET",
        path: "/",
        query: "Param2=value2&Param1=value1",
        headers: &[("host", "example.amazonaws.com"), ("x-amz-date", DATE)],
        body: "",
        signed: "host;x-amz-date",
        signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    },
    Vector {
        name: "normalize-path/get-slash-dot-slash",
        method: "GET",
        path: "/./",
        query: "",
        headers: &[("host", "example.amazonaws.com"), ("x-amz-date", DATE)],
        body: "",
        signed: "host;x-amz-date",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "normalize-path/get-slashes",
        method: "GET",
        path: "//example//",
        query: "",
        headers: &[("host", "example.amazonaws.com"), ("x-amz-date", DATE)],
        body: "",
        signed: "host;x-amz-date",
        signature: "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
    },
];

fn headers_of(vector: &Vector) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in vector.headers {
        headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("valid test header"),
        );
    }
    headers
}

fn header_line(vector: &Vector) -> String {
    format!(
        "{ALGORITHM} Credential={KEY_ID}/20150830/us-east-1/service/aws4_request, SignedHeaders={}, Signature={}",
        vector.signed, vector.signature
    )
}

fn signed_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0)
        .single()
        .expect("valid date")
}

#[test]
fn signs_every_suite_vector_as_aws_does() {
    for vector in VECTORS {
        let headers = headers_of(vector);
        let hash = sha256_hex(vector.body.as_bytes());
        let request = Signable {
            method: vector.method,
            path: vector.path,
            query: vector.query,
            headers: &headers,
            payload_hash: &hash,
        };
        let made = authorization(&request, DATE, &SCOPE, KEY_ID, SECRET);
        assert_eq!(made, header_line(vector), "{}", vector.name);
    }
}

#[test]
fn verifies_every_suite_vector_and_refuses_a_wrong_secret() {
    for vector in VECTORS {
        let headers = headers_of(vector);
        let hash = payload_hash(&headers, vector.body.as_bytes());
        let request = Signable {
            method: vector.method,
            path: vector.path,
            query: vector.query,
            headers: &headers,
            payload_hash: &hash,
        };
        let auth = parse_authorization(&header_line(vector)).expect("suite header parses");
        assert_eq!(auth.access_key_id, KEY_ID);
        assert_eq!(
            verify(&request, &auth, DATE, SECRET, signed_at()),
            Ok(()),
            "{}",
            vector.name
        );
        assert_eq!(
            verify(&request, &auth, DATE, "not-the-secret", signed_at()),
            Err(SigV4Error::Mismatch),
            "{}",
            vector.name
        );
    }
}

#[test]
fn a_changed_body_or_header_breaks_the_signature() {
    let vector = &VECTORS[3];
    let headers = headers_of(vector);
    let auth = parse_authorization(&header_line(vector)).expect("parses");
    let tampered = sha256_hex(b"Param1=value2");
    let request = Signable {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        payload_hash: &tampered,
    };
    assert_eq!(
        verify(&request, &auth, DATE, SECRET, signed_at()),
        Err(SigV4Error::Mismatch)
    );
    let mut moved = headers.clone();
    moved.insert("host", HeaderValue::from_static("elsewhere.example"));
    let hash = sha256_hex(vector.body.as_bytes());
    let request = Signable {
        headers: &moved,
        payload_hash: &hash,
        ..request
    };
    assert_eq!(
        verify(&request, &auth, DATE, SECRET, signed_at()),
        Err(SigV4Error::Mismatch)
    );
}

#[test]
fn the_canonical_request_of_get_vanilla_is_the_suites() {
    let headers = headers_of(&VECTORS[0]);
    let request = Signable {
        method: "GET",
        path: "/",
        query: "",
        headers: &headers,
        payload_hash: EMPTY_SHA256,
    };
    assert_eq!(
        canonical_request(&request, &["host", "x-amz-date"]),
        format!(
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:{DATE}\n\nhost;x-amz-date\n{EMPTY_SHA256}"
        )
    );
}

#[test]
fn dates_beyond_fifteen_minutes_are_refused_in_aws_words() {
    let now = signed_at() + TimeDelta::minutes(16);
    let old = check_skew(signed_at(), now).expect_err("16 minutes old");
    assert_eq!(
        old.to_string(),
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)"
    );
    let early = check_skew(signed_at() + TimeDelta::minutes(16), signed_at())
        .expect_err("16 minutes ahead");
    assert!(matches!(early, SigV4Error::NotYetCurrent { .. }), "{early}");
    assert_eq!(
        check_skew(signed_at(), signed_at() + TimeDelta::minutes(14)),
        Ok(())
    );
}

#[test]
fn malformed_headers_say_what_is_missing() {
    for (header, expect) in [
        ("Basic abc", "must start with"),
        (
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request",
            "'Signature'",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/aws4_request, SignedHeaders=host, Signature=00",
            "Credential should have the form",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws5_request, SignedHeaders=host, Signature=00",
            "terminator",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host, Signature=zz",
            "64 hexadecimal",
        ),
    ] {
        let error = parse_authorization(header).expect_err(header);
        assert!(
            matches!(&error, SigV4Error::Incomplete(m) if m.contains(expect)),
            "{header}: {error}"
        );
    }
}

#[test]
fn the_scope_date_must_match_x_amz_date() {
    let vector = &VECTORS[0];
    let headers = headers_of(vector);
    let request = Signable {
        method: "GET",
        path: "/",
        query: "",
        headers: &headers,
        payload_hash: EMPTY_SHA256,
    };
    let mut auth = parse_authorization(&header_line(vector)).expect("parses");
    auth.date = "20150831".into();
    assert!(matches!(
        verify(&request, &auth, DATE, SECRET, signed_at()),
        Err(SigV4Error::BadScope(_))
    ));
}

#[test]
fn query_values_are_decoded_then_encoded_the_aws_way() {
    assert_eq!(canonical_query("b=2&a=x%20y&a=1&c"), "a=1&a=x%20y&b=2&c=");
    assert_eq!(canonical_query("k=a+b~"), "k=a%2Bb~");
    assert_eq!(canonical_path("/v1/dead-letters"), "/v1/dead-letters");
    assert_eq!(canonical_path("/a%20b/../c"), "/c");
    assert_eq!(canonical_path("/a%20b"), "/a%2520b");
}

proptest::proptest! {
    #[test]
    fn parsing_any_header_never_panics(text in "\\PC{0,200}") {
        let _ = parse_authorization(&text);
        let _ = parse_authorization(&format!("AWS4-HMAC-SHA256 {text}"));
        let _ = parse_amz_date(&text);
    }
}
