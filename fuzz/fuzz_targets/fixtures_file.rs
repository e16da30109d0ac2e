//! The account fixtures parser (`--fixtures FILE`) and applying fixtures to a store.
//!
//! Any text is refused with an error that names a path inside the document (`$`, `accounts`
//! or an account given in the text), or accepted; an accepted file reads the same through
//! serde's one-pass parse. Fixtures that validate (accepted, or read by serde) re-serialise
//! to a file that parses to the same fixtures. Applied to a fresh store they give exactly the
//! declared accounts, groups (plus each default one), key pairs (as ImportKeyPair stores the
//! key, with a create's KeyPairId, in file order) and instances, each holding its declared key
//! pair where the file declares it (the files' references are checked together, at start);
//! applying them again changes nothing (groups are unioned, a re-declared key pair or instance
//! replaces itself in place); one tenant's part applied alone gives that tenant's part of the
//! whole; and the store's export restores.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use ecs_mock::fixtures::Fixtures;
use ecs_mock::sshkey::{parse_openssh_public_key, ParseOptions};
use ecs_mock::store::{Instance, Store};
use libfuzzer_sys::fuzz_target;

const SEED: u64 = 7;
/// The creation time of key pairs that give none.
const NOW: u64 = 1_700_000_000;

fuzz_target!(|text: &str| {
    if text.len() > 64 * 1024 {
        return;
    }
    let parsed = Fixtures::from_json(text);
    let by_serde = serde_json::from_str::<Fixtures>(text.strip_prefix('\u{feff}').unwrap_or(text))
        .ok()
        .filter(|f| f.validate().is_ok());
    // Any fixtures that validate, such as serde reads them (it also takes a struct written as
    // an array, which the level-by-level parser refuses), re-serialise to a file that parses
    // to the same fixtures: what a harness writes back must load.
    if let Some(f) = &by_serde {
        let written = serde_json::to_string_pretty(f).expect("fixtures serialise");
        let again =
            Fixtures::from_json(&written).unwrap_or_else(|e| panic!("re-parse of {written}: {e}"));
        assert_eq!(&again, f);
        let value = serde_json::to_value(f).expect("fixtures serialise");
        assert_eq!(Fixtures::from_value(value).as_ref(), Ok(f));
    }
    let fixtures = match parsed {
        Err(e) => {
            assert_eq!(e.to_string(), format!("{}: {}", e.path, e.problem));
            assert!(!e.problem.is_empty(), "{e}");
            check_error_path(text, &e.path);
            return;
        }
        Ok(f) => f,
    };
    assert_eq!(fixtures.validate(), Ok(()));
    assert_eq!(
        by_serde.as_ref(),
        Some(&fixtures),
        "serde's parse of an accepted file"
    );

    // Applied to a fresh store: exactly what was declared.
    let store = Store::new(SEED);
    fixtures.apply(&store, NOW);
    let once = store.export();
    let references_hold = Fixtures::check_together(std::slice::from_ref(&fixtures), SEED).is_ok();
    assert_eq!(
        once.accounts.keys().collect::<Vec<_>>(),
        fixtures.accounts.keys().collect::<Vec<_>>()
    );
    for (ak, declared) in &fixtures.accounts {
        let account = &once.accounts[ak];
        let mut groups: BTreeSet<String> = declared.resource_groups.iter().cloned().collect();
        groups.insert(account.default_resource_group.clone());
        assert_eq!(account.resource_groups, groups, "groups of {ak:?}");
        // Key pairs: by region, in file order, each as ImportKeyPair stores its key, in the
        // group the file names if the account has it (else left out: a reference is checked
        // with the other files, at start).
        let mut regions: BTreeMap<&str, Vec<(&str, String, String)>> = BTreeMap::new();
        for kp in &declared.key_pairs {
            if kp
                .resource_group_id
                .as_ref()
                .is_some_and(|rg| !account.resource_groups.contains(rg))
            {
                assert!(!references_hold, "a group the checked file gives");
                continue;
            }
            let key = parse_openssh_public_key(
                &kp.public_key,
                ParseOptions {
                    allow_ed25519: true,
                    fingerprint: ecs_mock::keygen::Fingerprint::Md5,
                },
            )
            .expect("a validated key parses");
            regions.entry(kp.region_id.as_str()).or_default().push((
                kp.key_pair_name.as_str(),
                key.fingerprint,
                key.openssh,
            ));
        }
        let stored: BTreeMap<&str, Vec<(&str, String, String)>> = account
            .regions
            .iter()
            .map(|(region, doc)| {
                let mut kps: Vec<_> = doc.key_pairs.values().collect();
                kps.sort_by_key(|kp| kp.sequence);
                let kps = kps
                    .into_iter()
                    .map(|kp| {
                        assert_eq!(
                            kp.id,
                            ecs_mock::ids::key_pair_id(SEED, ak, region, &kp.name, 0),
                            "a create's KeyPairId"
                        );
                        (
                            kp.name.as_str(),
                            kp.fingerprint.clone(),
                            kp.public_key.clone(),
                        )
                    })
                    .collect();
                (region.as_str(), kps)
            })
            .collect();
        assert_eq!(stored, regions, "key pairs of {ak:?}");
        let instances: BTreeMap<String, Instance> = declared
            .instances
            .iter()
            .map(|i| {
                let held = i.key_pair_name.clone().filter(|name| {
                    regions
                        .get(i.region_id.as_str())
                        .is_some_and(|kps| kps.iter().any(|(n, _, _)| n == name))
                });
                if references_hold {
                    assert_eq!(held, i.key_pair_name, "a checked binding holds");
                }
                let instance = Instance {
                    id: i.instance_id.clone(),
                    region_id: i.region_id.clone(),
                    status: i.status.clone(),
                    os_type: i.os_type,
                    key_pair_name: held,
                };
                (i.instance_id.clone(), instance)
            })
            .collect();
        assert_eq!(account.instances, instances, "instances of {ak:?}");
    }
    assert!(once.request_ordinals.is_empty());

    // Its export restores, unchanged.
    let restored = Store::new(SEED);
    restored
        .restore(once.clone())
        .unwrap_or_else(|e| panic!("the export after applying fixtures is refused: {e}"));
    assert_eq!(restored.export(), once);

    // Applying again (a reset re-applies them to a store that may hold them) changes nothing.
    fixtures.apply(&store, NOW);
    assert_eq!(store.export(), once, "applying twice");

    // One tenant's part alone (a reset of that tenant).
    for ak in fixtures.accounts.keys().take(4) {
        let alone = Store::new(SEED);
        alone.refill(|accounts| {
            let refused = fixtures.apply_to(accounts, Some(ak), NOW);
            assert!(refused.is_empty(), "an empty store has a place for {refused:?}");
        });
        assert_eq!(alone.export(), store.export_tenant(ak), "{ak:?} alone");
    }
});

/// The path of an error names the root, the accounts object or an account of the document.
fn check_error_path(text: &str, path: &str) {
    if path == "$" || path == "accounts" {
        return;
    }
    let Some(rest) = path.strip_prefix("accounts.") else {
        panic!("error path {path:?} is outside the document");
    };
    // The document parsed (the error is past the JSON syntax): the account named is one of it.
    let doc: serde_json::Value =
        serde_json::from_str(text.strip_prefix('\u{feff}').unwrap_or(text))
            .unwrap_or_else(|e| panic!("{path:?} blamed in text that is not JSON: {e}"));
    let accounts = doc["accounts"]
        .as_object()
        .unwrap_or_else(|| panic!("{path:?} blamed without an accounts object"));
    assert!(
        accounts.keys().any(|ak| {
            let quoted = format!("{ak:?}");
            rest.strip_prefix(&quoted)
                .is_some_and(|tail| tail.is_empty() || tail.starts_with(['.', '[']))
        }),
        "{path:?} names no account of the document"
    );
}
