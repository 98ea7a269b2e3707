//! Why an attempt failed, typed: the reason decides whether trying again may
//! help, and its code is what dead letters, target status and logs show
//! (docs/delivery.md lists them).

/// What went wrong, as a closed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The target's configuration cannot work until an operator fixes it.
    Configuration,
    ConnectionDeauthorized,
    InputTransformation,
    Timeout,
    Connection,
    /// Another transport error (reset, protocol error).
    Request,
    /// 401 or 407.
    Unauthorized,
    /// 408.
    RequestTimeout,
    /// 409.
    Conflict,
    /// 410: the endpoint says it is gone for good.
    Gone,
    /// 429.
    Throttled,
    /// 5xx.
    Server,
    /// Any other 4xx.
    Client,
    OAuthToken,
    /// Faults of our own: the target was never asked.
    Internal,
    LogRead,
    DeadLetterWrite,
}

impl Reason {
    /// The code shown to operators.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Configuration => "CONFIGURATION_ERROR",
            Reason::ConnectionDeauthorized => "CONNECTION_DEAUTHORIZED",
            Reason::InputTransformation => "INPUT_TRANSFORMATION_FAILED",
            Reason::Timeout => "TIMEOUT",
            Reason::Connection => "CONNECTION_ERROR",
            Reason::Request => "REQUEST_FAILED",
            Reason::Unauthorized => "UNAUTHORIZED",
            Reason::RequestTimeout => "REQUEST_TIMEOUT",
            Reason::Conflict => "CONFLICT",
            Reason::Gone => "GONE",
            Reason::Throttled => "THROTTLED",
            Reason::Server => "SERVER_ERROR",
            Reason::Client => "CLIENT_ERROR",
            Reason::OAuthToken => "OAUTH_TOKEN_FAILED",
            Reason::Internal => "INTERNAL_ERROR",
            Reason::LogRead => "LOG_READ_FAILED",
            Reason::DeadLetterWrite => "DEAD_LETTER_WRITE_FAILED",
        }
    }

    /// Whether another attempt may succeed without anyone changing anything.
    pub fn retryable(self) -> bool {
        !matches!(
            self,
            Reason::Configuration
                | Reason::ConnectionDeauthorized
                | Reason::InputTransformation
                | Reason::Gone
                | Reason::Client
        )
    }

    /// The reason for an HTTP status that is not a success. 401, 407 and 409
    /// are retried as EventBridge retries them for API destinations.
    pub fn for_status(status: u16) -> Reason {
        match status {
            401 | 407 => Reason::Unauthorized,
            408 => Reason::RequestTimeout,
            409 => Reason::Conflict,
            410 => Reason::Gone,
            429 => Reason::Throttled,
            500..=599 => Reason::Server,
            _ => Reason::Client,
        }
    }
}

/// A failed attempt: why, in words, and what the target answered.
#[derive(Clone, Debug)]
pub struct Failure {
    pub reason: Reason,
    pub message: String,
    pub status: Option<u16>,
    /// The start of the response body (at most `KEPT_BODY_BYTES`).
    pub body: Option<String>,
    pub retry_after_ms: Option<u64>,
}

impl Failure {
    pub fn new(reason: Reason, message: String) -> Failure {
        Failure {
            reason,
            message,
            status: None,
            body: None,
            retry_after_ms: None,
        }
    }

    /// A failure of the target's configuration: retrying cannot help until an
    /// operator fixes it (then redrives).
    pub fn config(message: String) -> Failure {
        Failure::new(Reason::Configuration, message)
    }

    pub fn retryable(&self) -> bool {
        self.reason.retryable()
    }

    pub fn code(&self) -> &'static str {
        self.reason.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_reasons_and_retryability() {
        let cases = [
            (400, "CLIENT_ERROR", false),
            (401, "UNAUTHORIZED", true),
            (404, "CLIENT_ERROR", false),
            (407, "UNAUTHORIZED", true),
            (408, "REQUEST_TIMEOUT", true),
            (409, "CONFLICT", true),
            (410, "GONE", false),
            (429, "THROTTLED", true),
            (500, "SERVER_ERROR", true),
            (599, "SERVER_ERROR", true),
            (302, "CLIENT_ERROR", false),
        ];
        for (status, code, retryable) in cases {
            let reason = Reason::for_status(status);
            assert_eq!(
                (reason.code(), reason.retryable()),
                (code, retryable),
                "{status}"
            );
        }
    }

    #[test]
    fn configuration_faults_wait_for_an_operator_and_our_own_faults_retry() {
        assert!(!Failure::config("x".into()).retryable());
        assert!(!Reason::ConnectionDeauthorized.retryable());
        assert!(!Reason::InputTransformation.retryable());
        for reason in [
            Reason::Timeout,
            Reason::Connection,
            Reason::Request,
            Reason::OAuthToken,
            Reason::Internal,
            Reason::LogRead,
            Reason::DeadLetterWrite,
        ] {
            assert!(reason.retryable(), "{reason:?}");
        }
    }
}
