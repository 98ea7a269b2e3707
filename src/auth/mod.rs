//! Who the caller is. TEMPORARY copy of the issue-12 contract's `Caller` for the
//! publisher-keys branch: the SigV4 branch owns this file and replaces it at merge.

/// Put into request extensions by the authentication middleware.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No operator credentials are configured and the server listens on loopback: everything is open.
    Open,
    /// A valid SigV4 signature by a configured operator access key.
    Operator { access_key_id: String },
    /// No operator signature on a publish route (gateway POST /events, POST /buses/{bus}/events,
    /// AWS PutEvents): the publish handler decides (publisher key or 401).
    Anonymous,
}
