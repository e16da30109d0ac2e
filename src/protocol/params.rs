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
/// return the first occurrence. All names and values live in one string (a request used to
/// cost two allocations per pair, a tenth of a cheap action's CPU). Cloning is cheap
/// (shared): the journal keeps the request's.
#[derive(Clone, Default)]
pub struct Params {
    inner: Arc<Decoded>,
}

#[derive(Default, Clone)]
struct Decoded {
    text: String,
    /// Per pair: where its name starts, where its value starts (the name's end) and ends.
    spans: Vec<[u32; 3]>,
}

impl Decoded {
    fn pair(&self, [name, value, end]: [u32; 3]) -> (&str, &str) {
        (
            &self.text[name as usize..value as usize],
            &self.text[value as usize..end as usize],
        )
    }

    fn push(&mut self, name: &str, value: &str) {
        let start = self.offset();
        self.text.push_str(name);
        let mid = self.offset();
        self.text.push_str(value);
        self.spans.push([start, mid, self.offset()]);
    }

    fn offset(&self) -> u32 {
        u32::try_from(self.text.len()).expect("parameters are bounded far below 4 GiB")
    }
}

/// A name/value pair as the signature and encoding functions take it: from [`Params::pairs`]
/// or from a list of owned pairs.
pub trait Pair<'a> {
    fn name(&self) -> &'a str;
    fn value(&self) -> &'a str;
}

impl<'a> Pair<'a> for (&'a str, &'a str) {
    fn name(&self) -> &'a str {
        self.0
    }
    fn value(&self) -> &'a str {
        self.1
    }
}

impl<'a> Pair<'a> for &'a (String, String) {
    fn name(&self) -> &'a str {
        &self.0
    }
    fn value(&self) -> &'a str {
        &self.1
    }
}

impl Params {
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut decoded = Decoded::default();
        for (k, v) in pairs {
            decoded.push(k.as_ref(), v.as_ref());
        }
        Self {
            inner: Arc::new(decoded),
        }
    }

    /// [`Params::from_pairs`] for pairs that `pairs` can list twice: the buffers are sized
    /// first and allocated once (pushing into empty ones regrew them a few times for every
    /// request's headers).
    pub fn from_pairs_twice<'a, I: Iterator<Item = (&'a str, &'a str)>>(
        pairs: impl Fn() -> I,
    ) -> Self {
        let (mut text, mut count) = (0, 0);
        for (k, v) in pairs() {
            text += k.len() + v.len();
            count += 1;
        }
        let mut decoded = Decoded {
            text: String::with_capacity(text),
            spans: Vec::with_capacity(count),
        };
        for (k, v) in pairs() {
            decoded.push(k, v);
        }
        Self {
            inner: Arc::new(decoded),
        }
    }

    /// The pairs in arrival order.
    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + Clone + '_ {
        self.inner.spans.iter().map(|s| self.inner.pair(*s))
    }

    /// [`Params::pairs`] as bytes (UTF-8 all the same), for copying them: without the
    /// character-boundary checks of slicing a `str`.
    pub fn byte_pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let text = self.inner.text.as_bytes();
        self.inner.spans.iter().map(move |&[name, value, end]| {
            (
                &text[name as usize..value as usize],
                &text[value as usize..end as usize],
            )
        })
    }

    /// The first value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        // Names compared as bytes: a request makes a few dozen lookups, and slicing every
        // name as a `str` (a boundary check each) showed in instruction counts.
        let d = &*self.inner;
        d.spans
            .iter()
            .find(|[n, v, _]| &d.text.as_bytes()[*n as usize..*v as usize] == name.as_bytes())
            .map(|s| d.pair(*s).1)
    }

    /// [`Params::get`] with `name` in any ASCII case, as header names are compared.
    pub fn get_ignore_ascii_case(&self, name: &str) -> Option<&str> {
        self.all_ignore_ascii_case(name).next()
    }

    /// Every value of `name` in any ASCII case, in arrival order.
    pub fn all_ignore_ascii_case<'s, 'n>(
        &'s self,
        name: &'n str,
    ) -> impl Iterator<Item = &'s str> + use<'s, 'n> {
        let d = &*self.inner;
        d.spans
            .iter()
            .filter(move |[n, v, _]| {
                d.text.as_bytes()[*n as usize..*v as usize].eq_ignore_ascii_case(name.as_bytes())
            })
            .map(|s| d.pair(*s).1)
    }

    /// The first value of `name` unless it is absent or empty (SDKs send unset fields as `x=`).
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    pub fn len(&self) -> usize {
        self.inner.spans.len()
    }

    /// The bytes of all names and values together.
    pub fn text_len(&self) -> usize {
        self.inner.text.len()
    }

    /// Whether a name starts with `prefix` (compared as bytes, no pair sliced).
    pub fn any_name_starts_with(&self, prefix: &str) -> bool {
        let d = &*self.inner;
        d.spans.iter().any(|[n, v, _]| {
            d.text.as_bytes()[*n as usize..*v as usize].starts_with(prefix.as_bytes())
        })
    }

    pub fn is_empty(&self) -> bool {
        self.inner.spans.is_empty()
    }

    /// Appends `other`'s pairs after this one's.
    pub fn extend(&mut self, other: &Params) {
        let mine = Arc::make_mut(&mut self.inner);
        mine.text.reserve(other.text_len());
        mine.spans.reserve(other.len());
        for (k, v) in other.pairs() {
            mine.push(k, v);
        }
    }
}

impl PartialEq for Params {
    fn eq(&self, other: &Self) -> bool {
        self.pairs().eq(other.pairs())
    }
}

impl Eq for Params {}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.pairs()).finish()
    }
}

/// Decodes `a=1&b=x+y&c` into pairs, with at most `max_pairs` pairs.
///
/// Empty segments (`a=1&&b=2`) are skipped; a segment without `=` is a name with an empty value.
pub fn decode(input: &[u8], max_pairs: usize) -> Result<Params, DecodeError> {
    // Offsets are u32; the server's body limit keeps real input far below this.
    if u32::try_from(input.len()).is_err() {
        return Err(DecodeError::TooMany(max_pairs));
    }
    if input.is_empty() {
        // The query of every POST an SDK sends.
        return Ok(Params::default());
    }
    // Decoding never lengthens the text.
    let mut text = Vec::with_capacity(input.len());
    // Room for a signed SDK request's parameters, so that the list is not regrown.
    let mut spans = Vec::with_capacity(max_pairs.min(24));
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'&' {
            i += 1;
            continue;
        }
        if spans.len() == max_pairs {
            return Err(DecodeError::TooMany(max_pairs));
        }
        let name_at = text.len() as u32;
        i = decode_component(input, i, &mut text, true)?;
        let value_at = text.len() as u32;
        if input.get(i) == Some(&b'=') {
            i = decode_component(input, i + 1, &mut text, false)?;
        }
        spans.push([name_at, value_at, text.len() as u32]);
    }
    // The whole is UTF-8 and every name and value starts and ends on a character boundary:
    // then each of them is UTF-8 on its own.
    let text = String::from_utf8(text).map_err(|_| DecodeError::NotUtf8)?;
    if !spans
        .iter()
        .flatten()
        .all(|at| text.is_char_boundary(*at as usize))
    {
        return Err(DecodeError::NotUtf8);
    }
    Ok(Params {
        inner: Arc::new(Decoded { text, spans }),
    })
}

/// Where the next byte that ends a run of plain text is: `&`, `+` or `%`, and in a name also
/// `=`. Eight bytes at a time (every byte of every request passes here, and a byte-at-a-time
/// scan was the largest part of decoding): a byte equal to `c` is one whose XOR with `c` is
/// zero, and the lowest byte of `(v - 0x01…) & !v & 0x80…` that is set is `v`'s first zero
/// byte (borrows only disturb the bytes above it).
fn next_special(bytes: &[u8], name: bool) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let equal = |w: u64, c: u8| zero_bytes(w ^ (ONES * u64::from(c)));
    let mut chunks = bytes.chunks_exact(8);
    for (n, chunk) in chunks.by_ref().enumerate() {
        let w = u64::from_le_bytes(chunk.try_into().expect("chunks of eight"));
        let mut hits = equal(w, b'&') | equal(w, b'+') | equal(w, b'%');
        if name {
            hits |= equal(w, b'=');
        }
        if hits != 0 {
            return Some(n * 8 + (hits.trailing_zeros() / 8) as usize);
        }
    }
    let tail = chunks.remainder();
    tail.iter()
        .position(|&b| matches!(b, b'&' | b'+' | b'%') || name && b == b'=')
        .map(|at| bytes.len() - tail.len() + at)
}

/// Decodes from `input[i..]` into `out` up to the end of the name (`=` or `&`) or of the
/// value (`&`: an `=` in a value is literal). Returns where it stopped.
fn decode_component(
    input: &[u8],
    mut i: usize,
    out: &mut Vec<u8>,
    name: bool,
) -> Result<usize, DecodeError> {
    loop {
        // Runs without escapes are copied as they are.
        let run = next_special(&input[i..], name).unwrap_or(input.len() - i);
        out.extend_from_slice(&input[i..i + run]);
        i += run;
        match input.get(i) {
            None | Some(b'&' | b'=') => return Ok(i),
            Some(b'+') => out.push(b' '),
            Some(_) => {
                out.push(escaped_byte(input, i)?);
                i += 2;
            }
        }
        i += 1;
    }
}

/// Decodes a URL path segment (a control API name): `%XX` escapes, as strictly as
/// [`decode`], but `+`, `&` and `=` stand for themselves, as RFC 3986 has them in a path.
pub fn decode_path_segment(input: &[u8]) -> Result<String, DecodeError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            out.push(escaped_byte(input, i)?);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

/// The byte of the `%XX` escape at `input[at]`.
#[inline]
fn escaped_byte(input: &[u8], at: usize) -> Result<u8, DecodeError> {
    let bad = || DecodeError::BadPercent(at);
    let hex = input.get(at + 1..at + 3).ok_or_else(bad)?;
    let hi = hex_val(hex[0]).ok_or_else(bad)?;
    let lo = hex_val(hex[1]).ok_or_else(bad)?;
    Ok(hi << 4 | lo)
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
pub fn encode<'a>(pairs: impl IntoIterator<Item = impl Pair<'a>>) -> String {
    let mut out = Vec::new();
    for (i, pair) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        crate::signature::pct_into(&mut out, pair.name());
        out.push(b'=');
        crate::signature::pct_into(&mut out, pair.value());
    }
    String::from_utf8(out).expect("percent-encoded text is ASCII")
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

    #[test]
    fn path_segments_decode_escapes_only() {
        assert_eq!(decode_path_segment(b"a+b&c=d").unwrap(), "a+b&c=d");
        assert_eq!(
            decode_path_segment(b"x%20y%2b%C3%BC").unwrap(),
            "x y+\u{fc}"
        );
        for (bad, at) in [(&b"%"[..], 0), (b"ab%2", 2), (b"a%zz", 1), (b"%+1", 0)] {
            assert_eq!(decode_path_segment(bad), Err(DecodeError::BadPercent(at)));
        }
        assert_eq!(decode_path_segment(b"%C3"), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn sized_construction_gives_the_same_params() {
        let lists: [&[(&str, &str)]; 3] = [
            &[],
            &[("host", "127.0.0.1:8080")],
            &[
                ("a", ""),
                ("", "b"),
                ("x-acs-\u{e9}", "v\u{1F511}"),
                ("a", "2"),
            ],
        ];
        for list in lists {
            let sized = Params::from_pairs_twice(|| list.iter().copied());
            assert_eq!(sized, Params::from_pairs(list.iter().copied()));
            assert_eq!(sized.pairs().collect::<Vec<_>>(), list);
        }
    }

    #[test]
    fn lookups_ignoring_case_find_the_first_name_equal_in_ascii_case() {
        let headers = Params::from_pairs([
            ("Host", "h1"),
            ("x-acs-\u{c9}", "upper"),
            ("X-ACS-Date", "d1"),
            ("x-acs-date", "d2"),
            ("x-acs-\u{e9}", "lower"),
        ]);
        for (name, want) in [
            ("host", Some("h1")),
            ("HOST", Some("h1")),
            ("x-acs-date", Some("d1")),
            ("x-acs-dat", None),
            ("x-acs-datex", None),
            ("", None),
            // Only ASCII letters fold, as in `str::eq_ignore_ascii_case`.
            ("X-ACS-\u{e9}", Some("lower")),
            ("x-acs-\u{c9}", Some("upper")),
        ] {
            assert_eq!(headers.get_ignore_ascii_case(name), want, "{name}");
            let every: Vec<&str> = headers
                .pairs()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .collect();
            assert_eq!(
                headers.all_ignore_ascii_case(name).collect::<Vec<_>>(),
                every,
                "{name}"
            );
            let plain = headers
                .pairs()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v);
            assert_eq!(plain, want, "{name}");
        }
        assert_eq!(headers.get("x-acs-date"), Some("d2"));
        assert_eq!(
            headers
                .all_ignore_ascii_case("X-Acs-Date")
                .collect::<Vec<_>>(),
            ["d1", "d2"]
        );
    }

    fn owned(params: &Params) -> Vec<(String, String)> {
        params
            .pairs()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn pairs(input: &str) -> Vec<(String, String)> {
        owned(&decode(input.as_bytes(), 100).unwrap())
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

    /// Random inputs of every length below `max_len`, `per_len` of each: half the bytes drawn
    /// from `specials` (the bytes the code under test treats apart, and their neighbours), the
    /// rest lower-case letters or any byte.
    fn random_inputs(max_len: usize, per_len: usize, specials: &[u8]) -> Vec<Vec<u8>> {
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut inputs = Vec::new();
        for len in 0..max_len {
            for _ in 0..per_len {
                inputs.push(
                    (0..len)
                        .map(|_| {
                            let r = next();
                            if r % 2 == 0 {
                                specials[(r >> 8) as usize % specials.len()]
                            } else if r % 3 == 0 {
                                (r >> 16) as u8
                            } else {
                                b'a' + (r >> 16) as u8 % 26
                            }
                        })
                        .collect(),
                );
            }
        }
        inputs
    }

    #[test]
    fn the_word_scan_finds_the_first_special_byte_like_a_byte_scan() {
        // Specials, their neighbours (off by one below and above), 0x00, 0x80 and 0xFF.
        for bytes in random_inputs(40, 200, b"&+%=%&'*,<>$a\x00\x80\xff\xa5\xab") {
            for name in [false, true] {
                let want = bytes
                    .iter()
                    .position(|&b| matches!(b, b'&' | b'+' | b'%') || name && b == b'=');
                assert_eq!(next_special(&bytes, name), want, "{bytes:?} name {name}");
            }
        }
    }

    /// [`decode`] byte by byte, as plainly as it can be written.
    fn decode_bytewise(
        input: &[u8],
        max_pairs: usize,
    ) -> Result<Vec<(String, String)>, DecodeError> {
        let mut pairs = Vec::new();
        let mut i = 0;
        while i < input.len() {
            if input[i] == b'&' {
                i += 1;
                continue;
            }
            if pairs.len() == max_pairs {
                return Err(DecodeError::TooMany(max_pairs));
            }
            let mut parts = [Vec::new(), Vec::new()];
            let mut part = 0;
            while let Some(&b) = input.get(i) {
                match b {
                    b'&' => break,
                    b'=' if part == 0 => part = 1,
                    b'+' => parts[part].push(b' '),
                    b'%' => {
                        parts[part].push(escaped_byte(input, i)?);
                        i += 2;
                    }
                    _ => parts[part].push(b),
                }
                i += 1;
            }
            let [name, value] = parts;
            pairs.push((name, value));
        }
        pairs
            .into_iter()
            .map(|(k, v)| {
                Ok((
                    String::from_utf8(k).map_err(|_| DecodeError::NotUtf8)?,
                    String::from_utf8(v).map_err(|_| DecodeError::NotUtf8)?,
                ))
            })
            .collect()
    }

    #[test]
    fn decode_agrees_with_a_byte_by_byte_decoder() {
        // Specials, their neighbours (off by one below and above), hex digits, 0x00, 0x80,
        // 0xFF and the bytes of a two-byte UTF-8 character.
        for bytes in random_inputs(48, 400, b"&+%=%&'*,<>$a\x00\x80\xff\xc3\xa9%2B%e4F") {
            let got = decode(&bytes, 16).map(|p| {
                p.pairs()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<Vec<_>>()
            });
            assert_eq!(got, decode_bytewise(&bytes, 16), "{bytes:?}");
        }
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(decode(b"a=%zz", 10), Err(DecodeError::BadPercent(2)));
        assert_eq!(decode(b"a=%4", 10), Err(DecodeError::BadPercent(2)));
        assert_eq!(decode(b"abc=1&d%", 10), Err(DecodeError::BadPercent(7)));
        assert_eq!(decode(b"a=%ff", 10), Err(DecodeError::NotUtf8));
        assert_eq!(decode(b"a=\xff", 10), Err(DecodeError::NotUtf8));
        // Each name and value must be UTF-8 on its own, even when together they would be:
        // here one character's bytes are split between a name and its value.
        assert_eq!(decode(b"%E4%B8=%AD", 10), Err(DecodeError::NotUtf8));
        assert_eq!(decode(b"a=%E4&%B8%AD", 10), Err(DecodeError::NotUtf8));
        assert_eq!(decode(b"a&b&c", 2), Err(DecodeError::TooMany(2)));
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let original = vec![
            ("Tag.1.Value".to_string(), "v/2*~ +&=%中".to_string()),
            ("Empty".to_string(), String::new()),
        ];
        let encoded = encode(&original);
        assert_eq!(owned(&decode(encoded.as_bytes(), 10).unwrap()), original);
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
