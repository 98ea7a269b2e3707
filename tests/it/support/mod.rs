//! What the integration tests share: a real server process (`TestServer`), the
//! client side of its API, and a seeded random generator.

pub mod api;
pub mod load;
pub mod raw;
pub mod rng;
pub mod server;

pub use api::{Reply, envelope, event_id, http};
pub use rng::Rng;
pub use server::TestServer;
