//! A state document (`PUT /__mock/state`, `--state-file`): never panics on any text, and a
//! document the store accepts exports to one it accepts again, unchanged (a saved state must
//! load back). One tenant's part (`GET`/`PUT /__mock/state?access_key_id=X`) restores alone:
//! onto the same state it changes nothing, into an empty store it exports as it came, and a
//! document holding other tenants is refused for X.
#![no_main]

use std::collections::BTreeSet;

use ecs_mock::store::{StateDoc, Store};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if text.len() > 256 * 1024 {
        return;
    }
    let Ok(doc) = serde_json::from_str::<StateDoc>(text) else {
        return;
    };
    let seed = doc.seed;
    let store = Store::new(seed);
    if store.restore(doc).is_err() {
        return;
    }
    let exported = store.export();
    let again = Store::new(seed);
    again
        .restore(exported.clone())
        .unwrap_or_else(|e| panic!("an exported state is refused: {e}"));
    assert_eq!(again.export(), exported);

    let tenants: BTreeSet<&String> = exported
        .accounts
        .keys()
        .chain(exported.request_ordinals.keys())
        .filter(|t| !t.is_empty())
        .take(4)
        .collect();
    for tenant in &tenants {
        let part = store.export_tenant(tenant);
        again
            .restore_tenant(tenant, part.clone())
            .unwrap_or_else(|e| panic!("{tenant:?}'s own part is refused: {e}"));
        assert_eq!(again.export(), exported, "restoring {tenant:?}'s own part");
        let alone = Store::new(seed);
        alone
            .restore_tenant(tenant, part.clone())
            .unwrap_or_else(|e| panic!("{tenant:?}'s part is refused by an empty store: {e}"));
        assert_eq!(alone.export_tenant(tenant), part);
        Store::new(seed)
            .restore(alone.export())
            .unwrap_or_else(|e| panic!("the export after a tenant's restore is refused: {e}"));
        if tenants.len() > 1 {
            assert!(
                alone.restore_tenant(tenant, exported.clone()).is_err(),
                "a document holding other tenants was taken for {tenant:?}"
            );
        }
    }
});
