//! The single integration-test binary: real HTTP against an in-process server on port 0.
//! Modules mirror `src/actions/` plus the cross-cutting protocol and signature behaviour.

mod support;

mod create_key_pair;
mod protocol;
mod signatures;
