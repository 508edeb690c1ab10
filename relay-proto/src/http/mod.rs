//! The HTTP/1.1 surface of the relay listener, pure: a request head in,
//! the reply bytes and what to do next out.

mod outcome;
mod request;
mod response;
mod routes;
pub mod token;
mod upgrade;

pub use outcome::Outcome;
pub use request::{owned_headers, parse_head, Head, HeadError, MAX_HEAD_LEN};
pub use routes::handle;
