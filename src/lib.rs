//! ecs-mock: a deterministic, stateful mock of the Alibaba Cloud ECS key pair API (2014-05-26).
//!
//! # Layout
//!
//! A request flows: [`server`] accepts a connection and deals it to one of the [`workers`]
//! threads, whose hyper connection (its header timeout kept by [`head_timer`]) hands each
//! request to the one service in [`service`], which collects the body under a cap and decodes it into a
//! [`protocol::request::ApiRequest`]; the pipeline assigns a deterministic RequestId
//! ([`ids`]), checks Version and Action, authenticates the tenant ([`auth`], with the
//! canonicalisation and HMAC code in [`signature`]), and dispatches to one module per action
//! under [`actions`]. Actions validate with [`validate`], change state in [`store`] (key
//! generation runs in [`keypool`] off the runtime, deterministic by [`keygen`]), and render
//! their typed response through [`protocol::response`] as JSON or XML. Every error code, status and
//! message lives in the catalogue in [`error`]. Between the RequestId and authentication, the
//! [`scenario`] engine may force an error, a delay or a transport fault (shaped by
//! `scenario::transport`); every answered request is recorded in the [`journal`].
//! `/__mock/*` goes to [`control`]. Account fixtures (instances, resource groups, key pairs)
//! load through [`fixtures`]; the whole state saves and restores through [`persist`].
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod actions;
pub mod auth;
pub mod clock;
pub mod config;
pub mod control;
pub mod error;
pub mod fastprime;
pub mod fixtures;
pub mod head_timer;
pub mod ids;
pub mod journal;
pub mod jsondoc;
pub mod keycache;
pub mod keygen;
pub mod keypool;
pub mod loadgen;
pub mod nonce;
pub mod persist;
pub mod protocol;
pub mod regions;
pub mod resets;
pub mod scenario;
pub mod server;
pub mod service;
pub mod signature;
pub mod sshkey;
pub mod statecheck;
pub mod store;
pub mod validate;
pub mod workers;
pub mod write_deadline;

pub use config::Config;
pub use server::{run, Server};

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary
/// (`str::floor_char_boundary`, stable only since Rust 1.91, above this crate's
/// `rust-version`): where a long text is cut for a message, a name or a cap.
pub(crate) fn prefix_within(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
