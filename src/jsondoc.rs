//! The JSON documents users write by hand (scenario files, fixtures, state files) are read
//! alike: a key given twice in one object is refused rather than silently keeping the last,
//! and a leading UTF-8 byte order mark, which some Windows editors write, is skipped.

use std::fmt::{self, Write as _};

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// `bytes` without a leading UTF-8 byte order mark, for documents parsed straight into a
/// typed struct (whose maps refuse duplicate keys themselves).
pub fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

/// The JSON value of a document's text, more strictly than `serde_json` reads it: a key given
/// twice in one object is refused, where a `Value` keeps the last silently (and the typed
/// parse, going through a `Value`, never sees it) — the same promise as refusing unknown
/// fields. A leading byte order mark is skipped.
///
/// # Errors
/// Not JSON, or a duplicate key; the message names the key, line and column.
pub fn strict(text: &str) -> Result<Value, serde_json::Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_json::from_str::<Strict>(text).map(|s| s.0)
}

/// `value` as a `T`. An error comes with the path of the field it is about, below `at` (the
/// part of the document `value` is: `rules[2].effect`), so that a message can name it however
/// deep it lies (`rules[2].effect.sequence[1].latency.at`).
///
/// # Errors
/// That path and serde's error.
pub fn typed<T: de::DeserializeOwned>(
    at: &str,
    value: Value,
) -> Result<T, (String, serde_json::Error)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let below = e.path().to_string();
        let path = match below.as_str() {
            "." => at.to_string(),
            p if p.starts_with('[') => format!("{at}{p}"),
            p => format!("{at}.{p}"),
        };
        (path, out_of_range(e.into_inner()))
    })
}

/// A whole number too large for 64 bits is read as a float, which serde then calls a float
/// ("invalid type: floating point `1e+22`, expected u64"): say what is wrong instead.
fn out_of_range(e: serde_json::Error) -> serde_json::Error {
    let text = e.to_string();
    let Some((number, expected)) = text
        .strip_prefix("invalid type: floating point `")
        .and_then(|rest| rest.split_once("`, expected "))
    else {
        return e;
    };
    let whole = number.parse::<f64>().is_ok_and(|f| f.fract() == 0.0);
    let integer = [
        "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize",
    ]
    .contains(&expected);
    if whole && integer {
        de::Error::custom(format!("{number} is out of range for {expected}"))
    } else {
        e
    }
}

/// A JSON value read by [`strict`]'s rules.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        de::DeserializeSeed::deserialize(StrictAt(None), d).map(Strict)
    }
}

/// Where a value lies in the document, as a chain of its ancestors on the parser's stack:
/// a key given twice is named with the path of its object, and nothing is allocated unless it
/// is.
struct At<'a> {
    parent: Option<&'a At<'a>>,
    seg: Seg<'a>,
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// `rules[0].match`, `accounts."ak-1".instances[1]`: keys that are not plain words quoted.
fn path_of(at: &At<'_>) -> String {
    let mut segs = Vec::new();
    let mut cur = Some(at);
    while let Some(a) = cur {
        segs.push(&a.seg);
        cur = a.parent;
    }
    let mut out = String::new();
    for seg in segs.into_iter().rev() {
        match seg {
            Seg::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    out.push_str(k);
                } else {
                    let _ = write!(out, "{k:?}");
                }
            }
        }
    }
    out
}

/// Reads one value at `self.0` (the root when `None`).
struct StrictAt<'a>(Option<&'a At<'a>>);

impl<'de> de::DeserializeSeed<'de> for StrictAt<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictAt<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let at = At {
                parent: self.0,
                seg: Seg::Index(out.len()),
            };
            match seq.next_element_seed(StrictAt(Some(&at)))? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let within = self.0.map(|at| format!(" ({})", path_of(at)));
                return Err(de::Error::custom(format!(
                    "the key {key:?} is given twice in one object{}",
                    within.unwrap_or_default()
                )));
            }
            let at = At {
                parent: self.0,
                seg: Seg::Key(&key),
            };
            let v = map.next_value_seed(StrictAt(Some(&at)))?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth_and_a_bom_is_skipped() {
        assert_eq!(
            strict("\u{feff}{\"a\":[{\"b\":1}]}").unwrap(),
            serde_json::json!({"a": [{"b": 1}]})
        );
        let e = strict(r#"{"a":[{"b":1,"b":2}]}"#).unwrap_err().to_string();
        assert_eq!(
            e,
            "the key \"b\" is given twice in one object (a[0]) at line 1 column 16"
        );
        let root = strict(r#"{"b":1,"b":2}"#).unwrap_err().to_string();
        assert_eq!(
            root,
            "the key \"b\" is given twice in one object at line 1 column 10"
        );
        // Keys that are not plain words are quoted, so a path with dots stays readable.
        let deep = strict(r#"{"accounts":{"ak-1.x":{"key_pairs":[{},{"n":1,"n":2}]}}}"#);
        assert_eq!(
            deep.unwrap_err().to_string(),
            "the key \"n\" is given twice in one object (accounts.\"ak-1.x\".key_pairs[1]) at line 1 column 49"
        );
        assert_eq!(without_bom(b"\xef\xbb\xbf{}"), b"{}");
        assert_eq!(without_bom(b"{}"), b"{}");
    }
}
