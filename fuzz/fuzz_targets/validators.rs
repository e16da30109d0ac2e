//! Tag, JSON-array, paging and region validators agree with simple reference predicates.
#![no_main]

use arbitrary::Arbitrary;
use ecs_mock::protocol::params::Params;
use ecs_mock::validate::{self, Invalid};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    tags: Vec<(u8, Option<String>, Option<String>)>,
    array: String,
    max: u8,
    page: String,
    region: String,
}

/// XML 1.0's `Char` production, which every stored tag must satisfy to come back in an XML
/// answer: no C0 control but tab, LF and CR, and not U+FFFE or U+FFFF.
fn xml_text(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}')
    })
}

fn tag_key_ok(k: &str) -> bool {
    let l = k.to_lowercase();
    xml_text(k)
        && !k.is_empty()
        && k.chars().count() <= 128
        && !l.starts_with("aliyun")
        && !l.starts_with("acs:")
        && !l.contains("http://")
        && !l.contains("https://")
}

fn tag_value_ok(v: &str) -> bool {
    let l = v.to_lowercase();
    xml_text(v)
        && v.chars().count() <= 128
        && !l.starts_with("acs:")
        && !l.contains("http://")
        && !l.contains("https://")
}

fuzz_target!(|input: Input| {
    // Tags: build Tag.N params with N in 0..=25 or 1,000,000 (0 and anything over 20 are out
    // of range) and compare with a reference evaluation.
    let mut pairs = Vec::new();
    let mut slots = std::collections::BTreeMap::new();
    for (n, key, value) in input.tags.iter().take(30) {
        let n = match usize::from(*n % 27) {
            26 => 1_000_000,
            n => n,
        };
        // A tag exists once either of its parameters is sent.
        if let Some(key) = key {
            pairs.push((format!("Tag.{n}.Key"), key.clone()));
            let slot = slots.entry(n).or_insert((None, None));
            slot.0.get_or_insert(key.clone());
        }
        if let Some(v) = value {
            pairs.push((format!("Tag.{n}.Value"), v.clone()));
            let slot = slots.entry(n).or_insert((None, None));
            slot.1.get_or_insert(v.clone());
        }
    }
    let got = validate::tags(&Params::from_pairs(pairs));
    let expected: Result<usize, Invalid> = (|| {
        if slots.len() > 20 || slots.keys().any(|n| *n == 0 || *n > 20) {
            return Err(Invalid::TooManyTags);
        }
        let mut seen = std::collections::HashSet::new();
        let mut dup = false;
        for (k, v) in slots.values() {
            // An absent key leaves a value keyless, empty or not; an empty key is malformed.
            if k.is_none() {
                return Err(Invalid::TagWithoutKey);
            }
            let v = v.clone().unwrap_or_default();
            let k = k.clone().unwrap_or_default();
            if !tag_key_ok(&k) {
                return Err(Invalid::TagKey);
            }
            if !tag_value_ok(&v) {
                return Err(Invalid::TagValue);
            }
            dup |= !seen.insert(k);
        }
        if dup {
            return Err(Invalid::DuplicateTagKey);
        }
        Ok(slots.len())
    })();
    assert_eq!(got.map(|t| t.len()), expected);

    // JSON arrays of non-empty strings, at most `max`.
    let max = usize::from(input.max % 10) + 1;
    let reference = match serde_json::from_str::<Vec<String>>(&input.array) {
        Ok(v) if v.is_empty() || v.iter().any(String::is_empty) => Err(Invalid::JsonArray),
        Ok(v) if v.len() > max => Err(Invalid::TooManyElements),
        Ok(v) => Ok(v),
        Err(_) => Err(Invalid::JsonArray),
    };
    let got = validate::json_string_array(&input.array, max);
    // A non-string element also makes a Vec<String> parse fail: both say JsonArray, unless
    // the array is over the limit, which the validator checks first.
    match (&got, &reference) {
        (Err(Invalid::TooManyElements), Err(Invalid::JsonArray)) => {}
        _ => assert_eq!(got, reference, "{:?}", input.array),
    }

    // Paging: 1..=50, default when absent or empty.
    let want = if input.page.is_empty() {
        Ok(10)
    } else {
        match input.page.parse::<u32>() {
            Ok(n) if (1..=50).contains(&n) => Ok(n),
            _ => Err(Invalid::Paging),
        }
    };
    assert_eq!(validate::page_number(Some(&input.page), 10, 50), want);

    // Regions: exactly the ids of the table.
    let known = ecs_mock::regions::REGIONS
        .iter()
        .any(|r| r.id == input.region);
    assert_eq!(ecs_mock::regions::find(&input.region).is_some(), known);
});
