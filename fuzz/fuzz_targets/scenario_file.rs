//! The scenario parser and validator: never panics on any text, and a scenario it accepts
//! re-serialises to a file that parses to the same scenario (what the control API lists and
//! the journal export writes must load again).
#![no_main]

use ecs_mock::scenario::file::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if text.len() > 64 * 1024 {
        return;
    }
    let Ok(scenario) = parse(text) else {
        return;
    };
    let written = serde_json::to_string(&scenario.file).expect("a scenario file serialises");
    let again = parse(&written).unwrap_or_else(|e| panic!("re-parse of {written}: {e:?}"));
    assert_eq!(again.name, scenario.name);
    assert_eq!(again.rules.len(), scenario.rules.len());
    assert_eq!(
        serde_json::to_value(&again.file).unwrap(),
        serde_json::to_value(&scenario.file).unwrap()
    );
});
