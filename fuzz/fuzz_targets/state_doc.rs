//! A state document (`PUT /__mock/state`, `--state-file`): never panics on any text, and a
//! document the store accepts exports to one it accepts again, unchanged (a saved state must
//! load back).
#![no_main]

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
});
