//! The ECS RPC wire protocol: decoding requests ([`params`], [`request`]) and encoding
//! responses and errors ([`response`]). Nothing here knows about key pairs.

pub mod params;
pub mod request;
pub mod response;
