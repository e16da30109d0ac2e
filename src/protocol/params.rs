//! Query-string and form-body decoding into [`Params`].
//!
//! Decoding is strict: a `%` not followed by two hex digits, or bytes that are not UTF-8 after
//! decoding, are errors rather than being passed through, because the signature check re-encodes
//! the decoded values and a lossy decode would make a correct client's signature fail for
//! reasons nobody could see. `+` means space (form rules), which every SDK relies on.

use std::fmt;
use std::sync::Arc;

/// Why a query string or body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// `%` not followed by two hex digits; carries the byte offset.
    BadPercent(usize),
    /// The decoded bytes of a name or value are not UTF-8.
    NotUtf8,
    /// More pairs than the configured maximum.
    TooMany(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadPercent(at) => write!(f, "malformed percent-escape at byte {at}"),
            DecodeError::NotUtf8 => write!(f, "decoded bytes are not UTF-8"),
            DecodeError::TooMany(max) => write!(f, "more than {max} parameters"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decoded request parameters in arrival order (query first, then form body).
///
/// Order is kept because signature checks need every pair, duplicates included; lookups
/// return the first occurrence. Cloning is cheap (shared): the journal keeps the request's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Arc<Vec<(String, String)>>,
}

impl Params {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self {
            pairs: Arc::new(pairs),
        }
    }

    /// The first value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name` unless it is absent or empty (SDKs send unset fields as `x=`).
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Appends `other`'s pairs after this one's.
    pub fn extend(&mut self, other: Params) {
        let mine = Arc::make_mut(&mut self.pairs);
        match Arc::try_unwrap(other.pairs) {
            Ok(theirs) => mine.extend(theirs),
            Err(shared) => mine.extend(shared.iter().cloned()),
        }
    }
}

/// Decodes `a=1&b=x+y&c` into pairs, with at most `max_pairs` pairs.
///
/// Empty segments (`a=1&&b=2`) are skipped; a segment without `=` is a name with an empty value.
pub fn decode(input: &[u8], max_pairs: usize) -> Result<Params, DecodeError> {
    let mut pairs = Vec::new();
    let mut offset = 0;
    for segment in input.split(|b| *b == b'&') {
        let start = offset;
        offset += segment.len() + 1;
        if segment.is_empty() {
            continue;
        }
        if pairs.len() == max_pairs {
            return Err(DecodeError::TooMany(max_pairs));
        }
        let (name, value) = match segment.iter().position(|b| *b == b'=') {
            Some(eq) => (&segment[..eq], &segment[eq + 1..]),
            None => (segment, &[][..]),
        };
        let value_start = start + name.len() + 1;
        pairs.push((
            decode_component(name, start)?,
            decode_component(value, value_start)?,
        ));
    }
    Ok(Params::from_pairs(pairs))
}

fn decode_component(raw: &[u8], base: usize) -> Result<String, DecodeError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .ok_or(DecodeError::BadPercent(base + i))?;
                let hi = hex_val(hex[0]).ok_or(DecodeError::BadPercent(base + i))?;
                let lo = hex_val(hex[1]).ok_or(DecodeError::BadPercent(base + i))?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Form-encodes pairs (space as `%20`, RFC 3986 unreserved kept); the inverse of [`decode`].
pub fn encode(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", crate::signature::pct(k), crate::signature::pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Parses a boolean parameter case-insensitively (`True` from Python, `true` from Go/Java/Node).
pub fn parse_bool(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(input: &str) -> Vec<(String, String)> {
        decode(input.as_bytes(), 100).unwrap().pairs().to_vec()
    }

    #[test]
    fn decodes_form_rules() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("a=1&b=2", &[("a", "1"), ("b", "2")]),
            ("a=x+y", &[("a", "x y")]),
            ("a=x%20y%2B", &[("a", "x y+")]),
            ("SignatureType=", &[("SignatureType", "")]),
            ("flag", &[("flag", "")]),
            ("a=1&&b=2&", &[("a", "1"), ("b", "2")]),
            ("k=%E4%B8%AD", &[("k", "中")]),
            ("a=b=c", &[("a", "b=c")]),
            ("", &[]),
        ];
        for (input, want) in cases {
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(pairs(input), want, "input {input:?}");
        }
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(decode(b"a=%zz", 10), Err(DecodeError::BadPercent(2)));
        assert_eq!(decode(b"a=%4", 10), Err(DecodeError::BadPercent(2)));
        assert_eq!(decode(b"abc=1&d%", 10), Err(DecodeError::BadPercent(7)));
        assert_eq!(decode(b"a=%ff", 10), Err(DecodeError::NotUtf8));
        assert_eq!(decode(b"a=\xff", 10), Err(DecodeError::NotUtf8));
        assert_eq!(decode(b"a&b&c", 2), Err(DecodeError::TooMany(2)));
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let original = vec![
            ("Tag.1.Value".to_string(), "v/2*~ +&=%中".to_string()),
            ("Empty".to_string(), String::new()),
        ];
        let encoded = encode(&original);
        assert_eq!(decode(encoded.as_bytes(), 10).unwrap().pairs(), original);
    }

    #[test]
    fn booleans_parse_case_insensitively() {
        for (input, want) in [
            ("True", Some(true)),
            ("true", Some(true)),
            ("TRUE", Some(true)),
            ("False", Some(false)),
            ("false", Some(false)),
            ("1", None),
            ("", None),
        ] {
            assert_eq!(parse_bool(input), want, "{input}");
        }
    }
}
