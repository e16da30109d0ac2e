//! Arbitrary sequences of actions applied through the real dispatcher to one store, checked
//! after every step against a simple model (a BTreeMap): name uniqueness, the 500 quota,
//! deletes, tags and tenant/region isolation.
//!
//! CreateKeyPair would cost a real RSA generation per call, so key pairs come in through
//! ImportKeyPair with fixed fixture keys: the state logic is the same, the keys are free.
//!
//! Steps are decoded a byte per choice (a derived enum spends four on its variant), and a
//! `Fill` inserts through `Store::insert`, where the quota is kept, rather than through
//! ImportKeyPair: filling a region to its 500 took 100 ms of key parsing and response
//! rendering, and kept inputs at one step. Each insert is still held to the model, and the
//! action's own quota answer is reached by an `Import` after a `Fill`.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use arbitrary::{Arbitrary, Unstructured};
use ecs_mock::actions::{Action, Ctx};
use ecs_mock::config::Config;
use ecs_mock::keypool::KeyPool;
use ecs_mock::protocol::params::Params;
use ecs_mock::protocol::response::Format;
use ecs_mock::store::{NewKeyPair, Origin, Store, Who, KEY_PAIR_QUOTA};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const KEYS: [&str; 3] = [
    include_str!("../../tests/fixtures/pubkeys/rsa2048.pub"),
    include_str!("../../tests/fixtures/pubkeys/ecdsa256.pub"),
    include_str!("../../tests/fixtures/pubkeys/dsa1024.pub"),
];
const TENANTS: [&str; 2] = ["t0", "t1"];
const REGIONS: [&str; 2] = ["cn-hangzhou", "eu-west-1"];
const NAMES: [&str; 6] = ["alpha", "beta", "gamma-1", "d:e_f.g", "中文", "x"];
const TAG_KEYS: [&str; 3] = ["env", "team", "acs:bad"];

#[derive(Debug)]
enum Op {
    Import {
        t: u8,
        r: u8,
        name: u8,
        key: u8,
    },
    ImportOdd {
        t: u8,
        r: u8,
        name: String,
    },
    /// Inserts `fill-0`, `fill-1`, …: a few, or about as many as the quota (484 to 515).
    Fill {
        t: u8,
        r: u8,
        n: u16,
    },
    Delete {
        t: u8,
        r: u8,
        names: Vec<u8>,
    },
    Tag {
        t: u8,
        r: u8,
        name: u8,
        key: u8,
        value: u8,
    },
    Untag {
        t: u8,
        r: u8,
        name: u8,
        key: u8,
    },
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let tag: u8 = u.arbitrary()?;
        let (t, r) = ((tag / 6) % 2, (tag / 12) % 2);
        Ok(match tag % 6 {
            0 => Op::Import {
                t,
                r,
                name: u.arbitrary()?,
                key: u.arbitrary()?,
            },
            1 => Op::ImportOdd {
                t,
                r,
                name: u.arbitrary()?,
            },
            2 => Op::Fill {
                t,
                r,
                n: match u.arbitrary::<u8>()? {
                    b @ 0..=127 => u16::from(b % 16),
                    b => 484 + u16::from(b % 32),
                },
            },
            3 => Op::Delete {
                t,
                r,
                names: u.arbitrary()?,
            },
            4 => Op::Tag {
                t,
                r,
                name: u.arbitrary()?,
                key: u.arbitrary()?,
                value: u.arbitrary()?,
            },
            _ => Op::Untag {
                t,
                r,
                name: u.arbitrary()?,
                key: u.arbitrary()?,
            },
        })
    }
}

#[derive(Default)]
struct Model {
    /// (tenant, region) -> name -> (fingerprint, tags)
    regions: BTreeMap<(usize, usize), BTreeMap<String, (String, BTreeMap<String, String>)>>,
}

fn run(
    action: Action,
    params: &[(&str, &str)],
    store: &Arc<Store>,
    config: &Config,
    keys: &Arc<KeyPool>,
    tenant: &str,
) -> Result<Value, String> {
    let params = Params::from_pairs(params.iter().copied());
    let ctx = Ctx {
        store,
        keys,
        config,
        tenant,
        counted: store.epoch(),
        request_id: "R",
        action,
        format: Format::Json,
        now_unix: config.clock.now_unix(),
    };
    let mut fut = std::pin::pin!(action.execute(&params, &ctx));
    // Every action but CreateKeyPair completes without awaiting anything.
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r
            .map(|rendered| serde_json::from_slice(&rendered.body).expect("JSON bodies parse"))
            .map_err(|e| e.code().to_string()),
        Poll::Pending => panic!("{} awaited", action.name()),
    }
}

fuzz_target!(|ops: Vec<Op>| {
    if ops.len() > 64 {
        return;
    }
    let store = Store::new(1);
    let config = Config::new("127.0.0.1:0".parse().unwrap(), 1);
    // No action here generates a key: one pool for every input spares a generator thread's
    // start and stop per input (with the fingerprints below, computed once, 1.7x the inputs
    // per second).
    static KEY_POOL: OnceLock<Arc<KeyPool>> = OnceLock::new();
    let keys = KEY_POOL.get_or_init(|| {
        Arc::new(KeyPool::new(
            &ecs_mock::keypool::KeySettings::default(),
            Store::new(1),
        ))
    });
    let mut model = Model::default();
    static PARSED: OnceLock<Vec<(String, String)>> = OnceLock::new();
    let parsed = PARSED.get_or_init(|| {
        KEYS.iter()
            .map(|k| {
                let key =
                    ecs_mock::sshkey::parse_openssh_public_key(k, Default::default()).unwrap();
                (key.fingerprint, key.openssh)
            })
            .collect()
    });
    let fp_of = |key: usize| -> String { parsed[key].0.clone() };
    for op in ops {
        match op {
            Op::Import { t, r, name, key } => {
                let (t, r, key) = (t as usize % 2, r as usize % 2, key as usize % KEYS.len());
                let name = NAMES[name as usize % NAMES.len()];
                import(
                    &mut model,
                    &store,
                    &config,
                    keys,
                    t,
                    r,
                    name,
                    key,
                    fp_of(key),
                );
            }
            Op::ImportOdd { t, r, name } => {
                if name.len() > 200 {
                    continue;
                }
                import(
                    &mut model,
                    &store,
                    &config,
                    keys,
                    t as usize % 2,
                    r as usize % 2,
                    &name,
                    0,
                    fp_of(0),
                );
            }
            Op::Fill { t, r, n } => {
                let (t, r) = (t as usize % 2, r as usize % 2);
                let (fp, openssh) = &parsed[1];
                for i in 0..n {
                    let name = format!("fill-{i}");
                    let got = store
                        .insert(
                            Who {
                                tenant: TENANTS[t],
                                counted: Some(store.epoch()),
                            },
                            REGIONS[r],
                            &name,
                            None,
                            NewKeyPair {
                                fingerprint: fp.clone(),
                                public_key: openssh.clone(),
                                resource_group_id: String::new(),
                                tags: Vec::new(),
                                creation_time: 0,
                                origin: Origin::Imported,
                            },
                        )
                        .map(|kp| kp.fingerprint.clone())
                        .map_err(|e| e.code().to_string());
                    let expected = expect_import(&mut model, t, r, &name, fp.clone());
                    assert_eq!(got, expected, "fill {name:?}");
                }
            }
            Op::Delete { t, r, names } => {
                let (t, r) = (t as usize % 2, r as usize % 2);
                let names: Vec<&str> = names
                    .iter()
                    .take(100)
                    .map(|n| NAMES[*n as usize % NAMES.len()])
                    .collect();
                if names.is_empty() {
                    continue;
                }
                let json = serde_json::to_string(&names).unwrap();
                let res = run(
                    Action::DeleteKeyPairs,
                    &[("RegionId", REGIONS[r]), ("KeyPairNames", &json)],
                    &store,
                    &config,
                    keys,
                    TENANTS[t],
                );
                assert!(res.is_ok(), "{res:?}");
                let m = model.regions.entry((t, r)).or_default();
                for n in names {
                    m.remove(n);
                }
            }
            Op::Tag {
                t,
                r,
                name,
                key,
                value,
            } => {
                let (t, r) = (t as usize % 2, r as usize % 2);
                let name = NAMES[name as usize % NAMES.len()];
                let key = TAG_KEYS[key as usize % TAG_KEYS.len()];
                let value = format!("v{value}");
                let res = run(
                    Action::TagResources,
                    &[
                        ("RegionId", REGIONS[r]),
                        ("ResourceType", "keypair"),
                        ("ResourceId.1", name),
                        ("Tag.1.Key", key),
                        ("Tag.1.Value", &value),
                    ],
                    &store,
                    &config,
                    keys,
                    TENANTS[t],
                );
                let m = model.regions.entry((t, r)).or_default();
                let expected = if key.starts_with("acs:") {
                    Err("InvalidTagKey.Malformed".to_string())
                } else if let Some((_, tags)) = m.get_mut(name) {
                    tags.insert(key.to_string(), value);
                    Ok(())
                } else {
                    Err("InvalidResourceId.NotFound".to_string())
                };
                assert_eq!(res.map(|_| ()), expected, "tag {name} {key}");
            }
            Op::Untag { t, r, name, key } => {
                let (t, r) = (t as usize % 2, r as usize % 2);
                let name = NAMES[name as usize % NAMES.len()];
                let key = TAG_KEYS[key as usize % TAG_KEYS.len()];
                let res = run(
                    Action::UntagResources,
                    &[
                        ("RegionId", REGIONS[r]),
                        ("ResourceType", "keypair"),
                        ("ResourceId.1", name),
                        ("TagKey.1", key),
                    ],
                    &store,
                    &config,
                    keys,
                    TENANTS[t],
                );
                let m = model.regions.entry((t, r)).or_default();
                let expected = match m.get_mut(name) {
                    Some((_, tags)) => {
                        tags.remove(key);
                        Ok(())
                    }
                    None => Err("InvalidResourceId.NotFound".to_string()),
                };
                assert_eq!(res.map(|_| ()), expected, "untag {name} {key}");
            }
        }
        check(&model, &store);
    }
});

#[allow(clippy::too_many_arguments)]
fn import(
    model: &mut Model,
    store: &Arc<Store>,
    config: &Config,
    keys: &Arc<KeyPool>,
    t: usize,
    r: usize,
    name: &str,
    key: usize,
    fp: String,
) {
    let res = run(
        Action::ImportKeyPair,
        &[
            ("RegionId", REGIONS[r]),
            ("KeyPairName", name),
            ("PublicKeyBody", KEYS[key]),
        ],
        store,
        config,
        keys,
        TENANTS[t],
    );
    let expected = expect_import(model, t, r, name, fp);
    let got = res.map(|v| {
        v["KeyPairFingerPrint"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    });
    assert_eq!(got, expected, "import {name:?}");
}

/// The model's answer to importing `name` (and its change when it is taken).
fn expect_import(
    model: &mut Model,
    t: usize,
    r: usize,
    name: &str,
    fp: String,
) -> Result<String, String> {
    let m = model.regions.entry((t, r)).or_default();
    if name.is_empty() {
        Err("MissingParameter".to_string())
    } else if ecs_mock::validate::key_pair_name(name).is_err() {
        Err("InvalidKeyPairName.Malformed".to_string())
    } else if m.contains_key(name) {
        Err("KeyPair.AlreadyExist".to_string())
    } else if m.len() >= KEY_PAIR_QUOTA {
        Err("QuotaExceed.KeyPair".to_string())
    } else {
        m.insert(name.to_string(), (fp.clone(), BTreeMap::new()));
        Ok(fp)
    }
}

fn check(model: &Model, store: &Arc<Store>) {
    for t in 0..2 {
        for r in 0..2 {
            let stored = store.key_pairs(TENANTS[t], REGIONS[r]);
            assert!(stored.len() <= KEY_PAIR_QUOTA);
            let names: BTreeSet<&str> = stored.iter().map(|k| k.name.as_str()).collect();
            assert_eq!(names.len(), stored.len(), "names are unique");
            let empty = BTreeMap::new();
            let m = model.regions.get(&(t, r)).unwrap_or(&empty);
            assert_eq!(names, m.keys().map(String::as_str).collect::<BTreeSet<_>>());
            for kp in &stored {
                let (fp, tags) = &m[&kp.name];
                assert_eq!(&kp.fingerprint, fp);
                let got: BTreeMap<String, String> = kp
                    .tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect();
                assert_eq!(&got, tags, "tags of {}", kp.name);
            }
        }
    }
}
