//! What the integration tests share: a real server (`TestServer`: a process, or
//! in-process with its delivery clock), the client side of its API, a recording HTTP target (`Sink`), and a seeded random
//! generator.

pub mod api;
pub mod aws;
pub mod in_process;
pub mod load;
pub mod raw;
pub mod rng;
pub mod routes;
pub mod server;
pub mod sink;

pub use api::{Reply, body_of_len, envelope, event_id, http};
pub use rng::Rng;
pub use server::{Stop, TestServer};
