//! AWS Signature Version 4: the canonical request, the string to sign, the
//! signing key and the signature, for signing (the CLI) and verifying (the
//! server) with one implementation, so that both always agree.
//!
//! Pure: the clock and the secrets come in as arguments. It knows nothing of
//! HTTP status codes or of which credentials exist (`api::auth` decides);
//! HMAC-SHA256 and SHA-256 are the `hmac`/`sha2` crates', the comparison is
//! `subtle`'s constant-time one. Paths are normalised as AWS does for every
//! service but S3 (dot segments and repeated slashes removed, each segment
//! encoded again); presigned URLs (a signature in the query) are not supported.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far `X-Amz-Date` may be from the server's clock, either way.
pub const MAX_SKEW: TimeDelta = TimeDelta::minutes(15);
/// `X-Amz-Date`'s format (ISO 8601 basic).
const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lowercase names, as sent (`host;x-amz-date`).
    pub signed_headers: Vec<String>,
    /// Lowercase hex.
    pub signature: String,
}

/// Why a request's signature was not accepted. Each names what AWS names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// The `Authorization` header is not a well-formed SigV4 header.
    #[error("{0}")]
    Incomplete(String),
    /// No operator has this access key id.
    #[error("unknown access key id")]
    UnknownKey,
    /// `X-Amz-Date` is more than 15 minutes in the past.
    #[error("Signature expired: {signed} is now earlier than {earliest} ({now} - 15 min.)")]
    Expired {
        signed: String,
        earliest: String,
        now: String,
    },
    /// `X-Amz-Date` is more than 15 minutes in the future.
    #[error("Signature not yet current: {signed} is still later than {latest} ({now} + 15 min.)")]
    NotYetCurrent {
        signed: String,
        latest: String,
        now: String,
    },
    /// The credential scope does not fit the request or this server.
    #[error("{0}")]
    BadScope(String),
    /// The signature differs from the one computed with the key's secret.
    #[error("signature mismatch")]
    Mismatch,
}

/// What is signed of one request. `path` and `query` are as sent on the wire
/// (percent-encoded); `payload_hash` is lowercase hex (or `UNSIGNED-PAYLOAD`).
pub struct Signable<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub payload_hash: &'a str,
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The payload hash to sign: `x-amz-content-sha256` when the client sent one,
/// else the body's own hash.
pub fn payload_hash(headers: &HeaderMap, body: &[u8]) -> String {
    match headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(declared) => declared.to_owned(),
        None => sha256_hex(body),
    }
}

/// Parses `AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/service/aws4_request,
/// SignedHeaders=host;x-amz-date, Signature=…`.
pub fn parse_authorization(value: &str) -> Result<Authorization, SigV4Error> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with(' '))
        .ok_or_else(|| {
            SigV4Error::Incomplete(format!(
                "Authorization header must start with '{ALGORITHM} '"
            ))
        })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((name, value)) = part.split_once('=') else {
            return Err(SigV4Error::Incomplete(format!(
                "Authorization header parameter {part:?} has no '='"
            )));
        };
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let mut missing = Vec::new();
    for (name, found) in [
        ("Credential", credential.is_some()),
        ("Signature", signature.is_some()),
        ("SignedHeaders", signed_headers.is_some()),
    ] {
        if !found {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(SigV4Error::Incomplete(missing.join(" ")));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should have the form <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request, not {} parts",
            scope.len()
        )));
    };
    if terminator != "aws4_request" {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    if access_key_id.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::Incomplete(
            "Credential should name an access key id and a date as YYYYMMDD".to_owned(),
        ));
    }
    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .map(|name| name.to_ascii_lowercase())
        .collect();
    if signed_headers.iter().any(String::is_empty) {
        return Err(SigV4Error::Incomplete(
            "SignedHeaders should list header names separated by ';'".to_owned(),
        ));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SigV4Error::Incomplete(
            "Signature should be 64 hexadecimal digits".to_owned(),
        ));
    }
    Ok(Authorization {
        access_key_id: access_key_id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// `X-Amz-Date` parsed, or the reason it cannot be.
pub fn parse_amz_date(value: &str) -> Result<DateTime<Utc>, SigV4Error> {
    NaiveDateTime::parse_from_str(value, DATE_FORMAT)
        .map(|naive| naive.and_utc())
        .map_err(|_| {
            SigV4Error::Incomplete(format!(
                "X-Amz-Date {value:?} is not a date in the form YYYYMMDD'T'HHMMSS'Z'"
            ))
        })
}

pub fn format_amz_date(at: DateTime<Utc>) -> String {
    at.format(DATE_FORMAT).to_string()
}

/// Refuses a signing time more than `MAX_SKEW` away from `now`, in AWS's words.
pub fn check_skew(signed: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), SigV4Error> {
    if signed < now - MAX_SKEW {
        return Err(SigV4Error::Expired {
            signed: format_amz_date(signed),
            earliest: format_amz_date(now - MAX_SKEW),
            now: format_amz_date(now),
        });
    }
    if signed > now + MAX_SKEW {
        return Err(SigV4Error::NotYetCurrent {
            signed: format_amz_date(signed),
            latest: format_amz_date(now + MAX_SKEW),
            now: format_amz_date(now),
        });
    }
    Ok(())
}

/// Verifies `auth` (already parsed, its key's `secret` found) over `request`
/// signed at `amz_date` (the `X-Amz-Date` text), with `now` for the skew check.
pub fn verify(
    request: &Signable<'_>,
    auth: &Authorization,
    amz_date: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), SigV4Error> {
    let signed_at = parse_amz_date(amz_date)?;
    check_skew(signed_at, now)?;
    if !amz_date.starts_with(&auth.date) {
        return Err(SigV4Error::BadScope(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            auth.date,
            &amz_date[..8.min(amz_date.len())]
        )));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::Incomplete(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    let names: Vec<&str> = auth.signed_headers.iter().map(String::as_str).collect();
    let expected = signature(
        request,
        &names,
        amz_date,
        &Scope {
            date: &auth.date,
            region: &auth.region,
            service: &auth.service,
        },
        secret,
    );
    if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(())
    } else {
        Err(SigV4Error::Mismatch)
    }
}

/// A credential scope: `date/region/service/aws4_request`.
pub struct Scope<'a> {
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

impl Scope<'_> {
    fn text(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The hex signature of `request` over `signed_headers` (lowercase names).
pub fn signature(
    request: &Signable<'_>,
    signed_headers: &[&str],
    amz_date: &str,
    scope: &Scope<'_>,
    secret: &str,
) -> String {
    let canonical = canonical_request(request, signed_headers);
    let to_sign = string_to_sign(amz_date, scope, &canonical);
    let key = signing_key(secret, scope);
    hex(&hmac(&key, to_sign.as_bytes()))
}

/// The `Authorization` header value for `request`, signed by `access_key_id`
/// with `secret`: every header in `request.headers` is signed (the caller puts
/// `host` and `x-amz-date` there first).
pub fn authorization(
    request: &Signable<'_>,
    amz_date: &str,
    scope: &Scope<'_>,
    access_key_id: &str,
    secret: &str,
) -> String {
    let mut names: Vec<String> = request
        .headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .collect();
    names.sort();
    names.dedup();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let signature = signature(request, &names, amz_date, scope, secret);
    format!(
        "{ALGORITHM} Credential={access_key_id}/{}, SignedHeaders={}, Signature={signature}",
        scope.text(),
        names.join(";")
    )
}

pub fn canonical_request(request: &Signable<'_>, signed_headers: &[&str]) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(request.method);
    out.push('\n');
    out.push_str(&canonical_path(request.path));
    out.push('\n');
    out.push_str(&canonical_query(request.query));
    out.push('\n');
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for value in request.headers.get_all(*name) {
            if !first {
                out.push(',');
            }
            first = false;
            push_trimmed(&mut out, &String::from_utf8_lossy(value.as_bytes()));
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(request.payload_hash);
    out
}

fn string_to_sign(amz_date: &str, scope: &Scope<'_>, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        scope.text(),
        sha256_hex(canonical_request.as_bytes())
    )
}

fn signing_key(secret: &str, scope: &Scope<'_>) -> [u8; 32] {
    let date = hmac(format!("AWS4{secret}").as_bytes(), scope.date.as_bytes());
    let region = hmac(&date, scope.region.as_bytes());
    let service = hmac(&region, scope.service.as_bytes());
    hmac(&service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A header value trimmed, its runs of spaces made one.
fn push_trimmed(out: &mut String, value: &str) {
    let mut space = false;
    for c in value.trim().chars() {
        if c == ' ' {
            space = true;
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
}

/// The path with `.`/`..` segments and empty segments removed (a trailing
/// slash kept), each segment percent-encoded again, as AWS does for non-S3
/// services.
fn canonical_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len() + 8);
    for segment in &segments {
        out.push('/');
        encode_into(&mut out, segment.as_bytes());
    }
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if segments.is_empty() || trailing {
        out.push('/');
    }
    out
}

/// Parameters decoded, encoded the AWS way, sorted by name then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let mut encoded = (String::new(), String::new());
            encode_into(&mut encoded.0, &percent_decode(name));
            encode_into(&mut encoded.1, &percent_decode(value));
            encoded
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len() + 8);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// RFC 3986 encoding: everything but unreserved characters as `%XX`.
fn encode_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(text) = std::str::from_utf8(hex)
            && let Ok(byte) = u8::from_str_radix(text, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
#[path = "sigv4_tests.rs"]
mod tests;
