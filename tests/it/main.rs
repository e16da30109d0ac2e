//! The single integration-test binary: real HTTP against an in-process server on port 0.
//! Modules mirror `src/actions/` plus the cross-cutting protocol and signature behaviour.

mod support;

mod attach_key_pair;
mod cli;
mod coherence;
mod concurrency;
mod control;
mod create_key_pair;
mod delete_key_pairs;
mod describe_key_pairs;
mod describe_regions;
mod detach_key_pair;
mod faults;
mod fingerprints;
mod fixtures;
mod import_key_pair;
mod join_resource_group;
mod key_modes;
mod list_tag_resources;
mod persistence;
mod protocol;
mod retries;
mod scenario_files;
mod scenarios;
mod shutdown;
mod signatures;
mod tag_resources;
mod untag_resources;
