//! The KeyPairName validator agrees with a reference predicate written independently.
#![no_main]

use ecs_mock::validate::key_pair_name;
use libfuzzer_sys::fuzz_target;

fn reference(name: &str) -> bool {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() < 2 || chars.len() > 128 {
        return false;
    }
    if !chars[0].is_alphabetic() {
        return false;
    }
    for c in &chars[1..] {
        let ok = c.is_alphabetic() || c.is_numeric() || ":_.-".contains(*c);
        if !ok {
            return false;
        }
    }
    let lower = name.to_lowercase();
    !(lower.starts_with("http://") || lower.starts_with("https://"))
}

fuzz_target!(|name: &str| {
    assert_eq!(key_pair_name(name).is_ok(), reference(name), "{name:?}");
});
