//! Request signature checks for both schemes the ECS SDKs use: V1 (HMAC-SHA1 over the
//! `Signature` query parameter) and V3 (`ACS3-HMAC-SHA256` in the `Authorization` header).
//!
//! This module owns canonicalisation (percent-encoding, sorting, canonical headers) and the HMAC
//! comparison, nothing else: no clock-skew, nonce-replay or "which headers must be signed"
//! policy, and no parameter parsing.
//!
//! Every function here works on **decoded** parameters and never looks at the raw query text.
//! SDKs encode the same value differently on the wire (space as `+` or `%20`; `* ! ' ( )` raw or
//! escaped), yet all of them sign the re-encoded, decoded form, so a check over the raw text
//! would reject valid requests. The caller decodes (form rules: `+` is a space) and hands over
//! pairs; this module re-encodes them with [`pct`].

use std::borrow::Cow;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::protocol::params::Pair;

/// The algorithm token V3 puts in front of the `Authorization` fields and the string to sign.
const V3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Header carrying the client's declared body hash; it is also line 6 of the V3 canonical request.
const CONTENT_SHA256_HEADER: &str = "x-acs-content-sha256";

/// RFC 3986 percent-encoding used by both signature versions: only `A-Z a-z 0-9 - _ . ~` stay
/// literal, the rest is UTF-8 `%XX` upper-case.
///
/// Unlike form encoding, a space becomes `%20` (never `+`) and `*` becomes `%2A`; getting either
/// wrong breaks every signature whose parameters contain them.
pub fn pct(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    pct_into(&mut out, s);
    ascii(out)
}

/// [`pct`] appended to `out`.
pub fn pct_into(out: &mut Vec<u8>, s: &str) {
    escape_into(out, s.as_bytes(), &ONCE);
}

/// Whether [`pct`] keeps `b` as it is (RFC 3986 unreserved).
fn unreserved(b: u8) -> bool {
    UNRESERVED[usize::from(b)]
}

/// [`unreserved`] as a table: one load per byte of every signed value.
static UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~');
        b += 1;
    }
    table
};

/// What a byte becomes: its text, padded to five bytes, and how many of them count.
type Escapes = [([u8; 5], u8); 256];

/// `pct`: an unreserved byte stays, any other becomes `%XX`.
static ONCE: Escapes = escapes(b"%");
/// `pct(pct(..))`: any byte `pct` escapes becomes `%25XX`, its escape with the `%` escaped again.
static TWICE: Escapes = escapes(b"%25");

const fn escapes(prefix: &[u8]) -> Escapes {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut table = [([0u8; 5], 0u8); 256];
    let mut b = 0;
    while b < 256 {
        if UNRESERVED[b] {
            table[b] = ([b as u8, 0, 0, 0, 0], 1);
        } else {
            let mut text = [0u8; 5];
            let mut i = 0;
            while i < prefix.len() {
                text[i] = prefix[i];
                i += 1;
            }
            text[i] = HEX[b >> 4];
            text[i + 1] = HEX[b & 0xF];
            table[b] = (text, (prefix.len() + 2) as u8);
        }
        b += 1;
    }
    table
}

/// Appends `s` with each byte replaced by its text in `table` ([`ONCE`] or [`TWICE`]).
///
/// Words of eight unreserved bytes are copied whole, and a byte of any other word is written as
/// all five bytes of its table entry with the unused ones cut off again: fixed-size stores
/// only, no call to `memcpy` for each run and no branch that depends on the byte. Base64 values
/// (an imported public key) have an escape every ~32 bytes, and encoding was a tenth of a
/// signed request's cost.
fn escape_into(out: &mut Vec<u8>, s: &[u8], table: &Escapes) {
    out.reserve(s.len() + 8);
    let mut words = s.chunks_exact(8);
    for word in words.by_ref() {
        let word: &[u8; 8] = word.try_into().expect("chunks of eight");
        // `&`, not `all`: no early exit, so no branch per byte.
        if word.iter().fold(true, |all, &b| all & unreserved(b)) {
            out.extend_from_slice(word);
        } else {
            for &b in word {
                push_escaped(out, &table[usize::from(b)]);
            }
        }
    }
    for &b in words.remainder() {
        push_escaped(out, &table[usize::from(b)]);
    }
}

#[inline]
fn push_escaped(out: &mut Vec<u8>, (text, len): &([u8; 5], u8)) {
    out.extend_from_slice(text);
    out.truncate(out.len() - 5 + usize::from(*len));
}

/// Percent-encoded text, which is ASCII whatever it encoded, as a `String`.
fn ascii(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("percent-encoded text is ASCII")
}

/// Encodes every pair, sorts by encoded key then encoded value and joins `k=v` with `&`.
///
/// Sorting the *encoded* strings (plain byte order) is what the published V1 recipe prescribes;
/// the value is the tie-breaker so a repeated key still yields one deterministic string. The SDKs
/// sort decoded keys (sdk-wire-behaviour.md §2): the two orders differ only for a key with a
/// character `pct` escapes, which no SDK's typed call sends, and the checks accept either (see
/// [`Order`]).
fn canonical_query<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    canonical_query_into(&mut out, pairs, Order::Encoded);
    out
}

/// How a client sorted the parameters it signed. The two agree unless a key holds a
/// character that [`pct`] escapes (`:`, `é`, a space, ...): `%` sorts before every letter and
/// digit, the bytes of `é` after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// By encoded key: the API reference's V1 recipe (§3.3).
    Encoded,
    /// By decoded key: what the SDKs do, and sdk-wire-behaviour.md §2 says, for V1 and V3.
    Decoded,
}

impl Order {
    /// The orders worth trying for these keys, the reference's first: the second only when a
    /// key could sort apart from its encoding.
    fn candidates<'a>(mut keys: impl Iterator<Item = &'a str>) -> &'static [Self] {
        if keys.any(|k| !k.bytes().all(unreserved)) {
            &[Self::Encoded, Self::Decoded]
        } else {
            &[Self::Encoded]
        }
    }
}

/// [`canonical_query`] appended to `out`, in `order`.
fn canonical_query_into<'a>(
    out: &mut String,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    order: Order,
) {
    let mut pairs: Vec<(&str, Cow<'_, str>, Cow<'_, str>)> =
        pairs.map(|(k, v)| (k, encoded(k), encoded(v))).collect();
    match order {
        Order::Encoded => pairs.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2))),
        Order::Decoded => pairs.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2))),
    }
    let len: usize = pairs.iter().map(|(_, k, v)| k.len() + v.len() + 2).sum();
    out.reserve(len);
    for (i, (_, k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// V1: canonicalised query string: every decoded pair except the ones keyed exactly `Signature`,
/// pct-encoded, sorted by encoded key then encoded value (byte order), joined `k=v` with `&`.
///
/// Empty values stay in (the legacy SDK signs `SignatureType=`), so callers must not drop them.
pub fn v1_canonical_query<'a>(params: impl IntoIterator<Item = impl Pair<'a>>) -> String {
    canonical_query(
        params
            .into_iter()
            .filter(|p| p.name() != "Signature")
            .map(|p| (p.name(), p.value())),
    )
}

/// V1 string to sign: `METHOD&%2F&pct(canonical query)`.
///
/// `method` must be the method the request actually arrived with: SDKs sign the one they send.
/// The same string goes back to legacy SDKs in the `SignatureDoesNotMatch` message, which is how
/// they tell a wrong secret from other failures.
///
/// Built in one pass, without the intermediate canonical query: every request is checked, and
/// the two encodings of a 400-byte PublicKeyBody showed in profiles.
pub fn v1_string_to_sign<'a>(
    method: &str,
    params: impl IntoIterator<Item = impl Pair<'a>>,
) -> String {
    ascii(v1_string_to_sign_bytes(method, params))
}

/// [`v1_string_to_sign`] as bytes: [`verify_v1`] makes it a `String` only for a mismatch.
fn v1_string_to_sign_bytes<'a>(
    method: &str,
    params: impl IntoIterator<Item = impl Pair<'a>>,
) -> Vec<u8> {
    let params = params.into_iter();
    // Sized for every pair: the filter hides the count from `collect`, which grew the vector
    // twice for a dozen parameters.
    let (low, high) = params.size_hint();
    let mut pairs: Vec<(u64, Cow<'_, str>, &str)> = Vec::with_capacity(high.unwrap_or(low));
    pairs.extend(params.filter(|p| p.name() != "Signature").map(|p| {
        let key = encoded(p.name());
        (prefix_key(&key), key, p.value())
    }));
    // By encoded key, then encoded value (only repeated keys get that far). Most keys differ
    // in their first eight bytes, compared as one number instead of through `memcmp`.
    pairs.sort_by(|a, b| {
        (a.0.cmp(&b.0))
            .then_with(|| a.1.cmp(&b.1))
            .then_with(|| encoded(a.2).cmp(&encoded(b.2)))
    });
    let len: usize = pairs.iter().map(|(_, k, v)| k.len() + v.len() + 6).sum();
    let mut out = Vec::with_capacity(method.len() + 5 + len * 5 / 4);
    out.extend_from_slice(method.as_bytes());
    out.extend_from_slice(b"&%2F&");
    for (i, (_, k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"%26"); // pct("&")
        }
        escape_into(&mut out, k.as_bytes(), &ONCE);
        out.extend_from_slice(b"%3D"); // pct("=")
        escape_into(&mut out, v.as_bytes(), &TWICE);
    }
    out
}

/// The first eight bytes of `s` as a big-endian number, zeros after a shorter `s`: ordered as
/// the strings are, wherever they differ in those bytes, for strings without NUL bytes (an
/// encoded key has none: `pct` escapes it).
fn prefix_key(s: &str) -> u64 {
    let mut word = [0u8; 8];
    let n = s.len().min(8);
    word[..n].copy_from_slice(&s.as_bytes()[..n]);
    u64::from_be_bytes(word)
}

/// [`pct`], borrowing `s` when nothing needs escaping.
fn encoded(s: &str) -> Cow<'_, str> {
    if s.bytes().all(unreserved) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(pct(s))
    }
}

/// V1 signature: `base64(HMAC-SHA1(key = secret + "&", string_to_sign))`.
///
/// The trailing `&` is where a bearer-token secret would go; access-key signing leaves it empty.
pub fn v1_sign(secret: &str, string_to_sign: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(v1_mac(secret, string_to_sign.as_bytes()))
}

/// The HMAC-SHA1 of [`v1_sign`] before base64 (every request is checked: [`verify_v1`] encodes
/// it on the stack rather than allocating the signature).
fn v1_mac(secret: &str, string_to_sign: &[u8]) -> [u8; 20] {
    let mut mac = keyed_v1_mac(secret);
    mac.update(string_to_sign);
    mac.finalize().into_bytes().into()
}

thread_local! {
    /// The last secret [`keyed_v1_mac`] keyed a MAC with, and that MAC: a load's requests
    /// mostly come from one tenant, and keying hashes two blocks of the ~16 an import's check
    /// hashes.
    static LAST_V1_KEY: std::cell::RefCell<Option<(Box<str>, Hmac<Sha1>)>> =
        const { std::cell::RefCell::new(None) };
}

/// A V1 MAC keyed with `secret + "&"`, cloned from this thread's last one when the secret is
/// the same.
fn keyed_v1_mac(secret: &str) -> Hmac<Sha1> {
    LAST_V1_KEY.with_borrow_mut(|last| match last {
        Some((s, mac)) if **s == *secret => mac.clone(),
        _ => {
            let key = hmac_block_key::<Sha1, _>(&[secret.as_bytes(), b"&"]);
            let mac = <Hmac<Sha1> as KeyInit>::new(&key);
            *last = Some((secret.into(), mac.clone()));
            mac
        }
    })
}

/// Shapes an HMAC key into exactly one hash block (RFC 2104 §2: hash it if longer than a block,
/// then zero-pad).
///
/// HMAC accepts keys of any length, but `new_from_slice` still returns a `Result`; building the
/// block ourselves lets us use the infallible constructor, so there is no "impossible" error path
/// to unwrap on a client-controlled secret. The result is bit-identical to `new_from_slice`
/// (checked in the tests).
///
/// The key is given in `parts` that are concatenated (V1's `secret&`), so that it needs no
/// allocation of its own.
fn hmac_block_key<D, K>(parts: &[&[u8]]) -> K
where
    D: Digest,
    K: Default + AsMut<[u8]>,
{
    let mut block = K::default();
    let out = block.as_mut();
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len > out.len() {
        let mut hasher = D::new();
        for part in parts {
            hasher.update(part);
        }
        let hashed = hasher.finalize();
        let n = hashed.len().min(out.len());
        out[..n].copy_from_slice(&hashed[..n]);
    } else {
        let mut at = 0;
        for part in parts {
            out[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
    }
    block
}

/// Parsed `Authorization: ACS3-HMAC-SHA256 Credential=..,SignedHeaders=a;b,Signature=hex`.
///
/// Borrowed from the header value: every SDK request is parsed once, and an owned string per
/// field and per signed header name was most of the parse's cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Authorization<'a> {
    /// The `Credential` field verbatim: the AccessKeyId (for STS, the temporary `STS.…` id).
    pub access_key_id: &'a str,
    /// `SignedHeaders` split on `;`, lower-cased, in the order given. The order is kept because
    /// the client built its canonical headers in that order.
    pub signed_headers: Vec<Cow<'a, str>>,
    /// The hex signature as sent (either case; compare through [`verify_v3`]).
    pub signature: &'a str,
}

/// Why an `Authorization` header could not be parsed as V3; the text is meant for error messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IncompleteSignature(pub String);

fn incomplete(reason: impl Into<String>) -> IncompleteSignature {
    IncompleteSignature(reason.into())
}

/// RFC 9110 `tchar`: a header name made of anything else could not have been sent, and a `:` or
/// space in it would let a client forge extra canonical-header lines.
fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| TCHAR[usize::from(b)])
}

/// [`is_header_name`]'s bytes as a table: every signed header name of every V3 request is
/// checked, and the list of symbols was searched for each `-`.
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let symbols = b"!#$%&'*+-.^_`|~";
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < symbols.len() {
        table[symbols[i] as usize] = true;
        i += 1;
    }
    table
};

/// Parses a V3 `Authorization` header value.
///
/// Fields may come in any order and spaces around commas are tolerated, since hand-written
/// clients differ there while SDKs emit no spaces.
///
/// # Errors
///
/// [`IncompleteSignature`] for anything malformed: another algorithm token, a missing, repeated
/// or unknown field, an empty credential, an empty (or empty-segment) `SignedHeaders`, a header
/// name that is not an HTTP token, or a signature that is not 64 hex digits.
pub fn parse_v3_authorization(value: &str) -> Result<V3Authorization<'_>, IncompleteSignature> {
    let value = value.trim();
    let rest = value
        .strip_prefix(V3_ALGORITHM)
        .filter(|rest| rest.starts_with([' ', '\t']))
        .ok_or_else(|| incomplete(format!("Authorization does not start with {V3_ALGORITHM}")))?
        .trim_start();

    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for field in rest.split(',') {
        let field = field.trim();
        let (name, field_value) = field
            .split_once('=')
            .ok_or_else(|| incomplete(format!("Authorization field `{field}` has no `=`")))?;
        let name = name.trim();
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => return Err(incomplete(format!("unknown Authorization field `{other}`"))),
        };
        if slot.replace(field_value.trim()).is_some() {
            return Err(incomplete(format!("Authorization repeats `{name}`")));
        }
    }

    let credential = credential.ok_or_else(|| incomplete("Authorization is missing Credential"))?;
    if credential.is_empty() {
        return Err(incomplete("Authorization has an empty Credential"));
    }

    let signed_headers = signed_headers
        .ok_or_else(|| incomplete("Authorization is missing SignedHeaders"))?
        .split(';')
        .map(|name| {
            if name.eq_ignore_ascii_case("authorization") {
                // The header carries the signature, so it cannot be signed (reference §3.4).
                Err(incomplete(
                    "SignedHeaders lists authorization, which cannot be signed",
                ))
            } else if !is_header_name(name) {
                Err(incomplete(format!(
                    "SignedHeaders contains invalid header name `{name}`"
                )))
            } else if name.bytes().any(|b| b.is_ascii_uppercase()) {
                Ok(Cow::Owned(name.to_ascii_lowercase()))
            } else {
                Ok(Cow::Borrowed(name))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;

    let signature = signature.ok_or_else(|| incomplete("Authorization is missing Signature"))?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete("Signature is not 64 hex digits"));
    }

    Ok(V3Authorization {
        access_key_id: credential,
        signed_headers,
        signature,
    })
}

/// All values of header `name` (any case), each trimmed, in arrival order.
fn header_values<'h>(headers: impl IntoIterator<Item = impl Pair<'h>>, name: &str) -> Vec<&'h str> {
    headers
        .into_iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| h.value().trim())
        .collect()
}

/// [`header_values`] joined with `,`, sorted first when `sorted` (borrowed when the header
/// comes once, as from every SDK); `None` when the header is absent.
fn header_value<'h>(
    headers: impl IntoIterator<Item = impl Pair<'h>> + Clone,
    name: &str,
    sorted: bool,
) -> Option<Cow<'h, str>> {
    let mut matching = headers
        .clone()
        .into_iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name));
    let first = matching.next()?.value().trim();
    if matching.next().is_none() {
        return Some(Cow::Borrowed(first));
    }
    let mut values = header_values(headers, name);
    if sorted {
        values.sort_unstable();
    }
    Some(Cow::Owned(values.join(",")))
}

/// V3 canonical request: the six lines METHOD, path, canonical query, canonical headers,
/// SignedHeaders, hashed payload, joined with `\n`.
///
/// `query` holds the decoded query-string pairs only (the body is covered by the payload hash).
/// They are encoded with [`pct`], sorted by encoded key then encoded value and rendered
/// `pct(k)=pct(v)`. An empty value is rendered `k=`, as the Python SDK signs it (a bare `k`
/// is accepted too, see [`verify_v3`]); `k=` and a bare `k` on the wire both decode to
/// `(k, "")`.
///
/// Canonical headers are built from exactly `signed_headers` (the client chose which headers
/// it signed, and SDKs disagree on the set), sorted by name as API reference §3.4 says: each
/// name lower-cased, its values trimmed, and the values of a repeated header sorted and joined
/// with `,`, as the Python, Node and Go signers do. A signed header that is absent still
/// contributes `name:` so the signature fails instead of silently signing less. Each header
/// line ends in `\n`, which is why a blank line precedes the SignedHeaders line, which is the
/// client's list as given (the Java signer joins its list unsorted but writes the header lines
/// sorted).
///
/// `hashed_payload` is the `x-acs-content-sha256` value the caller chose (see [`verify_v3`]).
pub fn v3_canonical_request<'a, 'h, H: Pair<'h>>(
    method: &str,
    path: &str,
    query: impl IntoIterator<Item = impl Pair<'a>>,
    headers: impl IntoIterator<Item = H> + Clone,
    signed_headers: &[impl AsRef<str>],
    hashed_payload: &str,
) -> String {
    let query: Vec<(&str, &str)> = query.into_iter().map(|p| (p.name(), p.value())).collect();
    canonical_request_as(
        V3Form::SPEC,
        method,
        path,
        &query,
        headers,
        signed_headers,
        hashed_payload,
    )
}

/// How a client may have built its V3 canonical request. [`V3Form::SPEC`] is the reference's
/// and the SDKs'; the others are what the reference leaves open and hand-written clients do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct V3Form {
    /// Header lines in `SignedHeaders` order, values of a repeated header in arrival order
    /// (sdk-wire-behaviour.md: "for each name in SignedHeaders"), rather than sorted.
    headers_as_given: bool,
    /// Empty query values as a bare `k` rather than `k=` (API reference §3.4, inferred).
    bare_empty_values: bool,
    /// How the query's keys were sorted.
    order: Order,
}

impl V3Form {
    const SPEC: Self = Self {
        headers_as_given: false,
        bare_empty_values: false,
        order: Order::Encoded,
    };
}

fn canonical_request_as<'h, H: Pair<'h>>(
    form: V3Form,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: impl IntoIterator<Item = H> + Clone,
    signed_headers: &[impl AsRef<str>],
    hashed_payload: &str,
) -> String {
    // Written into one buffer: every SDK request is checked this way, and a string per line
    // and per header was most of the check's cost.
    let mut out = String::with_capacity(512);
    out.push_str(method);
    out.push('\n');
    out.push_str(path);
    out.push('\n');
    let query_start = out.len();
    canonical_query_into(&mut out, query.iter().copied(), form.order);
    if form.bare_empty_values {
        let rendered = out.split_off(query_start);
        for (i, pair) in rendered.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(pair.strip_suffix('=').unwrap_or(pair));
        }
    }
    out.push('\n');
    let mut line = |name: &str| {
        push_lower(&mut out, name);
        out.push(':');
        if let Some(value) = header_value(headers.clone(), name, !form.headers_as_given) {
            out.push_str(&value);
        }
        out.push('\n');
    };
    // SDKs list their signed headers sorted, so the order is built only for those that don't.
    if form.headers_as_given
        || signed_headers.is_sorted_by(|a, b| cmp_ignore_case(a.as_ref(), b.as_ref()).is_le())
    {
        signed_headers.iter().for_each(|name| line(name.as_ref()));
    } else {
        let mut order: Vec<&str> = signed_headers.iter().map(AsRef::as_ref).collect();
        order.sort_by(|a, b| cmp_ignore_case(a, b));
        order.into_iter().for_each(line);
    }
    out.push('\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        push_lower(&mut out, name.as_ref());
    }
    out.push('\n');
    out.push_str(hashed_payload);
    out
}

/// Orders header names as their lower-case forms would be ordered, without making them.
fn cmp_ignore_case(a: &str, b: &str) -> std::cmp::Ordering {
    let a = a.bytes().map(|c| c.to_ascii_lowercase());
    a.cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

fn push_lower(out: &mut String, name: &str) {
    let start = out.len();
    out.push_str(name);
    out[start..].make_ascii_lowercase();
}

/// V3 string to sign: `"ACS3-HMAC-SHA256\n" + hex(sha256(canonical_request))`.
pub fn v3_string_to_sign(canonical_request: &str) -> String {
    ascii(v3_string_to_sign_bytes(canonical_request).to_vec())
}

/// The length of a V3 string to sign: the algorithm, `\n` and 64 hex digits.
const V3_STRING_TO_SIGN_LEN: usize = V3_ALGORITHM.len() + 1 + 64;

/// [`v3_string_to_sign`] on the stack.
fn v3_string_to_sign_bytes(canonical_request: &str) -> [u8; V3_STRING_TO_SIGN_LEN] {
    let mut out = [0u8; V3_STRING_TO_SIGN_LEN];
    out[..V3_ALGORITHM.len()].copy_from_slice(V3_ALGORITHM.as_bytes());
    out[V3_ALGORITHM.len()] = b'\n';
    hex_into(
        &Sha256::digest(canonical_request.as_bytes()),
        &mut out[V3_ALGORITHM.len() + 1..],
    );
    out
}

/// V3 signature: lower-case hex `HMAC-SHA256(key = secret, string_to_sign)`.
///
/// Unlike V1 the key is the bare secret, without a trailing `&`.
pub fn v3_sign(secret: &str, string_to_sign: &str) -> String {
    ascii(v3_sign_hex(secret, string_to_sign.as_bytes()).to_vec())
}

/// [`v3_sign`] on the stack.
fn v3_sign_hex(secret: &str, string_to_sign: &[u8]) -> [u8; 64] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new(&hmac_block_key::<Sha256, _>(&[secret.as_bytes()]));
    mac.update(string_to_sign);
    let mut hex = [0u8; 64];
    hex_into(&mac.finalize().into_bytes(), &mut hex);
    hex
}

/// Lower-case hex SHA-256 of `body`, the form `x-acs-content-sha256` uses.
pub fn sha256_hex(body: &[u8]) -> String {
    let mut hex = [0u8; 64];
    hex_into(&Sha256::digest(body), &mut hex);
    ascii(hex.to_vec())
}

/// Writes `bytes` as lower-case hex into the first `2 * bytes.len()` bytes of `out`.
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

/// Compares two signature strings in time independent of where they first differ, so response
/// timing does not reveal how many leading characters of a forged signature were right.
///
/// Only the length may leak, and signature lengths are public (28 base64 / 64 hex characters).
pub fn signatures_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the optimiser from turning the fold back into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

/// Outcome of a signature check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The signature matches.
    Ok,
    /// The signature does not match. `string_to_sign` is what the server computed; it belongs in
    /// the `SignatureDoesNotMatch` message (the legacy Python SDK parses it out of there).
    Mismatch {
        /// The server-side string to sign.
        string_to_sign: String,
    },
}

/// Checks a V1 request. `params` are all decoded query and form-body pairs, `Signature`
/// included; the first `Signature` is the one checked (all of them are left out of the string
/// to sign). A request without `Signature` is a mismatch.
pub fn verify_v1<'a, P: Pair<'a>>(
    method: &str,
    params: impl IntoIterator<Item = P> + Clone,
    secret: &str,
) -> Verdict {
    let string_to_sign = v1_string_to_sign_bytes(method, params.clone());
    let provided = params
        .clone()
        .into_iter()
        .find(|p| p.name() == "Signature")
        .map(|p| p.value());
    let signs = |string_to_sign: &[u8], provided: &str| {
        let mut expected = [0u8; 28];
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(v1_mac(secret, string_to_sign), &mut expected)
            .expect("20 bytes are 28 base64 characters");
        signatures_equal(
            std::str::from_utf8(&expected[..n]).expect("base64 is ASCII"),
            provided,
        )
    };
    let Some(provided) = provided else {
        return Verdict::Mismatch {
            string_to_sign: ascii(string_to_sign),
        };
    };
    if signs(&string_to_sign, provided) {
        return Verdict::Ok;
    }
    // The SDKs' order (decoded keys), only once the reference's has failed and where the two
    // can differ.
    let signed = || {
        params
            .clone()
            .into_iter()
            .filter(|p| p.name() != "Signature")
            .map(|p| (p.name(), p.value()))
    };
    if Order::candidates(signed().map(|(k, _)| k)).contains(&Order::Decoded) {
        let mut canonical = String::new();
        canonical_query_into(&mut canonical, signed(), Order::Decoded);
        if signs(
            format!("{method}&%2F&{}", pct(&canonical)).as_bytes(),
            provided,
        ) {
            return Verdict::Ok;
        }
    }
    Verdict::Mismatch {
        string_to_sign: ascii(string_to_sign),
    }
}

/// Checks a V3 request whose `Authorization` header was parsed into `auth`.
///
/// The hashed payload is the `x-acs-content-sha256` header when present (the client signed that
/// text, so it is used verbatim), else `sha256_hex(body)`. A declared hash that differs from the
/// body's (ignoring hex case) is a mismatch even if the HMAC is right: otherwise a signed request
/// could have its body swapped. The provided signature is compared case-insensitively because
/// [`parse_v3_authorization`] admits upper-case hex.
pub fn verify_v3<'a, 'h>(
    method: &str,
    path: &str,
    query: impl IntoIterator<Item = impl Pair<'a>>,
    headers: impl IntoIterator<Item = impl Pair<'h>>,
    body: &[u8],
    auth: &V3Authorization<'_>,
    secret: &str,
) -> Verdict {
    // The query's pairs and then the headers', in one list: each signed header's line scans
    // every header, and taking a pair from the request's `Params` slices and checks it anew.
    let (query, headers) = (query.into_iter(), headers.into_iter());
    let mut pairs = Vec::with_capacity(query.size_hint().0 + headers.size_hint().0);
    pairs.extend(query.map(|p| (p.name(), p.value())));
    let query_len = pairs.len();
    pairs.extend(headers.map(|h| (h.name(), h.value())));
    let (query, headers) = pairs.split_at(query_len);
    let headers = || headers.iter().copied();
    let mut body_hash = [0u8; 64];
    hex_into(&Sha256::digest(body), &mut body_hash);
    let body_hash = std::str::from_utf8(&body_hash).expect("hex is ASCII");
    let declared = header_value(headers(), CONTENT_SHA256_HEADER, false);
    let body_matches = declared
        .as_deref()
        .is_none_or(|d| d.eq_ignore_ascii_case(body_hash));
    let hashed_payload = declared.as_deref().unwrap_or(body_hash);
    let signature = if auth.signature.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(auth.signature.to_ascii_lowercase())
    } else {
        Cow::Borrowed(auth.signature)
    };
    // The reference's form first, then, only where they differ from it, the forms it leaves
    // open: header lines in the client's order, empty query values without `=`. Whether they
    // differ is asked only once the reference's form has failed.
    let unsorted = || {
        auth.signed_headers
            .windows(2)
            .any(|w| cmp_ignore_case(&w[0], &w[1]).is_gt())
            || auth
                .signed_headers
                .iter()
                .any(|name| header_values(headers(), name).len() > 1)
    };
    let has_empty = || query.iter().any(|(_, v)| v.is_empty());
    let orders = Order::candidates(query.iter().map(|(k, _)| *k));
    let mut spec_string_to_sign = None;
    for headers_as_given in [false, true] {
        for bare_empty_values in [false, true] {
            for &order in orders {
                let spec = !headers_as_given && !bare_empty_values;
                if !spec
                    && ((headers_as_given && !unsorted()) || (bare_empty_values && !has_empty()))
                {
                    continue;
                }
                let form = V3Form {
                    headers_as_given,
                    bare_empty_values,
                    order,
                };
                let canonical = canonical_request_as(
                    form,
                    method,
                    path,
                    query,
                    headers(),
                    &auth.signed_headers,
                    hashed_payload,
                );
                let string_to_sign = v3_string_to_sign_bytes(&canonical);
                let expected = v3_sign_hex(secret, &string_to_sign);
                let expected = std::str::from_utf8(&expected).expect("hex is ASCII");
                if body_matches && signatures_equal(expected, &signature) {
                    return Verdict::Ok;
                }
                spec_string_to_sign.get_or_insert_with(|| ascii(string_to_sign.to_vec()));
            }
        }
    }
    Verdict::Mismatch {
        string_to_sign: spec_string_to_sign.expect("the reference's form is always tried"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    use serde_json::Value;

    const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sdk-captures");
    type Pairs = Vec<(String, String)>;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// RFC 3986: everything but ALPHA / DIGIT / "-" / "." / "_" / "~" is escaped.
    const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');

    /// `pct`, `encoded` and the one-pass `pct(pct(s))` against the `percent-encoding` crate.
    fn assert_pct_agrees_with_the_crate(s: &str) {
        let want = utf8_percent_encode(s, ESCAPED).to_string();
        assert_eq!(pct(s), want, "{s:?}");
        assert_eq!(encoded(s), want, "{s:?}");
        let mut twice = Vec::new();
        escape_into(&mut twice, s.as_bytes(), &TWICE);
        assert_eq!(
            ascii(twice),
            utf8_percent_encode(&want, ESCAPED).to_string(),
            "{s:?}"
        );
    }

    #[test]
    fn pct_agrees_with_the_percent_encoding_crate() {
        let every_ascii: String = (0u8..128).map(char::from).collect();
        let inputs = [
            "",
            "plain-Name_1.2~",
            "a b*c+d/e=f&g%h",
            "中文 é ✓ 🙂",
            &every_ascii,
            "ssh-rsa AAAAB3NzaC1yc2E+/x==",
        ];
        for s in inputs {
            assert_pct_agrees_with_the_crate(s);
        }
    }

    #[test]
    fn pct_agrees_with_the_crate_wherever_a_run_ends_in_its_eight_byte_words() {
        // Runs of every length from 0 to 40 around escapes and multi-byte characters, so that
        // an escape falls on each position of the word-wise scan, and at either end.
        use rand_core::{Rng as _, SeedableRng};
        let escapes = ["+", "/", " ", "=", "é", "🙂", "%", "*"];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let mut next = |n: usize| rng.next_u32() as usize % n;
        for _ in 0..2_000 {
            let mut s = String::new();
            for _ in 0..next(5) {
                for _ in 0..next(41) {
                    s.push(char::from(b"AZaz09-_.~Qm"[next(12)]));
                }
                s.push_str(escapes[next(escapes.len())]);
            }
            for _ in 0..next(20) {
                s.push('k');
            }
            assert_pct_agrees_with_the_crate(&s);
        }
    }

    #[test]
    fn the_one_pass_v1_string_to_sign_is_pct_of_the_canonical_query() {
        // The published recipe, built the long way.
        let recipe = |method: &str, params: &Pairs| {
            format!("{method}&%2F&{}", pct(&v1_canonical_query(params)))
        };
        let cases: Vec<Pairs> = vec![
            pairs(&[]),
            pairs(&[("Signature", "x")]),
            pairs(&[("B", "2"), ("A", "1"), ("Signature", "sig")]),
            // Repeated keys: ordered by encoded value.
            pairs(&[("K", "b"), ("K", "a"), ("K", "é"), ("K", "~"), ("K", "")]),
            // Keys whose raw and encoded orders differ ('é' sorts after 'z' raw, before it
            // encoded).
            pairs(&[
                ("z", "1"),
                ("é", "2"),
                ("a b", "3"),
                ("a-b", "4"),
                ("a*b", "5"),
            ]),
            pairs(&[
                ("PublicKeyBody", "ssh-rsa AAAAB3Nza+/= me@host"),
                ("Tag.1.Value", "中文 *!'()~%2A&="),
                ("SignatureType", ""),
            ]),
            // Keys alike in their first eight bytes, keys that begin others, keys of eight.
            pairs(&[
                ("SignatureVersion", "1.0"),
                ("SignatureNonce", "n"),
                ("SignatureMethod", "HMAC-SHA1"),
                ("Signatur", "8"),
                ("Sig", "3"),
                ("Signature", "left out"),
                ("Signaturf", "9"),
                ("Tag.10.Key", "b"),
                ("Tag.1.Key", "a"),
                ("Tag.1", ""),
                ("T", ""),
                ("Tag.1.Key", "0"),
            ]),
        ];
        for params in cases {
            for method in ["GET", "POST"] {
                assert_eq!(
                    v1_string_to_sign(method, &params),
                    recipe(method, &params),
                    "{params:?}"
                );
            }
        }
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Form decoding (`+` is a space, `%XX` are UTF-8 bytes, a bare `k` is `k=`), kept here only
    /// to prove that the captures verify from their raw wire text; the real parser lives elsewhere.
    fn form_decode(raw: &str) -> Vec<(String, String)> {
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .unwrap()
                .into_owned()
        };
        raw.split('&')
            .filter(|seg| !seg.is_empty())
            .map(|seg| {
                let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    struct Capture {
        name: String,
        method: String,
        path: String,
        query: Vec<(String, String)>,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        expected: Value,
    }

    fn load_captures() -> Vec<Capture> {
        let mut files: Vec<_> = std::fs::read_dir(CAPTURES)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let v: Value =
                    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
                let req = &v["request"];
                let name = v["name"].as_str().unwrap().to_owned();
                let query = form_decode(req["query"].as_str().unwrap());
                // The capture's own decoding must agree with ours, pair for pair and in order.
                let decoded: Vec<(String, String)> = v["decoded_params"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect();
                assert_eq!(query, decoded, "{name}: query decoding");
                let headers = req["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        (
                            h[0].as_str().unwrap().to_owned(),
                            h[1].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                assert_eq!(v["access_key_secret"], "secret", "{name}");
                Capture {
                    name,
                    method: req["method"].as_str().unwrap().to_owned(),
                    path: req["path"].as_str().unwrap().to_owned(),
                    query,
                    headers,
                    body: req["body"].as_str().unwrap().as_bytes().to_vec(),
                    expected: v["expected"].clone(),
                }
            })
            .collect()
    }

    fn mismatch(v: Verdict) -> String {
        match v {
            Verdict::Mismatch { string_to_sign } => string_to_sign,
            Verdict::Ok => panic!("expected a mismatch"),
        }
    }

    #[test]
    fn all_captures_verify_and_reject_wrong_secrets() {
        let captures = load_captures();
        assert_eq!(captures.len(), 15);
        let (mut v1, mut v3) = (0, 0);
        for c in &captures {
            let name = &c.name;
            let expected_sts = c.expected["string_to_sign"].as_str().unwrap();
            let expected_sig = c.expected["signature"].as_str().unwrap();
            let auth = header_value(&c.headers, "authorization", false);
            if let Some(auth) = auth {
                v3 += 1;
                let auth = parse_v3_authorization(&auth).unwrap();
                assert_eq!(auth.access_key_id, "ak", "{name}");
                assert_eq!(auth.signature, expected_sig, "{name}");
                assert_eq!(
                    auth.signed_headers.join(";"),
                    c.expected["signed_headers"].as_str().unwrap(),
                    "{name}"
                );
                let hashed = header_value(&c.headers, CONTENT_SHA256_HEADER, false).unwrap();
                assert_eq!(hashed, sha256_hex(&c.body), "{name}");
                let canonical = v3_canonical_request(
                    &c.method,
                    &c.path,
                    &c.query,
                    &c.headers,
                    &auth.signed_headers,
                    &hashed,
                );
                assert_eq!(
                    canonical,
                    c.expected["canonical_request"].as_str().unwrap(),
                    "{name}"
                );
                let sts = v3_string_to_sign(&canonical);
                assert_eq!(sts, expected_sts, "{name}");
                assert_eq!(v3_sign("secret", &sts), expected_sig, "{name}");
                let verify = |secret| {
                    verify_v3(
                        &c.method, &c.path, &c.query, &c.headers, &c.body, &auth, secret,
                    )
                };
                assert_eq!(verify("secret"), Verdict::Ok, "{name}");
                for wrong in ["secret2", "Secret"] {
                    assert_eq!(mismatch(verify(wrong)), expected_sts, "{name}/{wrong}");
                }
            } else {
                v1 += 1;
                // Every capture has an empty body, so the query holds all parameters.
                assert!(c.body.is_empty(), "{name}");
                let sts = v1_string_to_sign(&c.method, &c.query);
                assert_eq!(sts, expected_sts, "{name}");
                assert_eq!(v1_sign("secret", &sts), expected_sig, "{name}");
                let provided = c.query.iter().find(|(k, _)| k == "Signature").unwrap();
                assert_eq!(provided.1, expected_sig, "{name}");
                assert_eq!(verify_v1(&c.method, &c.query, "secret"), Verdict::Ok);
                for wrong in ["secret2", "Secret"] {
                    let got = mismatch(verify_v1(&c.method, &c.query, wrong));
                    assert_eq!(got, expected_sts, "{name}/{wrong}");
                }
            }
        }
        assert_eq!((v1, v3), (6, 9));
    }

    #[test]
    fn published_v1_vector() {
        let params = pairs(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]);
        let sts = v1_string_to_sign("GET", &params);
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML\
             %26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf\
             %26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z\
             %26Version%3D2014-05-26"
        );
        assert_eq!(v1_sign("testsecret", &sts), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");

        let mut signed = params.clone();
        signed.push(("Signature".into(), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=".into()));
        assert_eq!(verify_v1("GET", &signed, "testsecret"), Verdict::Ok);
        // The method is part of the string to sign.
        assert_eq!(
            mismatch(verify_v1("POST", &signed, "testsecret")),
            sts.replacen("GET", "POST", 1)
        );
    }

    fn d1_params() -> Vec<(String, String)> {
        pairs(&[
            ("AccessKeyId", "testid"),
            ("Action", "CreateKeyPair"),
            ("Format", "JSON"),
            ("KeyPairName", "my-key"),
            ("RegionId", "cn-hangzhou"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "c7e3c9b2-4f7a-4a8e-9d0b-1b2c3d4e5f60"),
            ("SignatureVersion", "1.0"),
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "dev test*~"),
            ("Timestamp", "2024-01-01T00:00:00Z"),
            ("Version", "2014-05-26"),
        ])
    }

    #[test]
    fn derived_v1_vectors() {
        let d1 = d1_params();
        assert_eq!(
            v1_canonical_query(&d1),
            "AccessKeyId=testid&Action=CreateKeyPair&Format=JSON&KeyPairName=my-key\
             &RegionId=cn-hangzhou&SignatureMethod=HMAC-SHA1\
             &SignatureNonce=c7e3c9b2-4f7a-4a8e-9d0b-1b2c3d4e5f60&SignatureVersion=1.0\
             &Tag.1.Key=env&Tag.1.Value=dev%20test%2A~&Timestamp=2024-01-01T00%3A00%3A00Z\
             &Version=2014-05-26"
        );
        let d1_sts = v1_string_to_sign("POST", &d1);
        assert!(d1_sts.starts_with("POST&%2F&AccessKeyId%3Dtestid%26Action%3DCreateKeyPair"));
        assert!(d1_sts.contains("Tag.1.Value%3Ddev%2520test%252A~"));

        let d3 = pairs(&[
            ("AccessKeyId", "testid"),
            ("Action", "DeleteKeyPairs"),
            ("Format", "JSON"),
            ("KeyPairNames", r#"["k1","k2"]"#),
            ("RegionId", "cn-hangzhou"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "nonce-0001"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2024-01-01T00:00:00Z"),
            ("Version", "2014-05-26"),
        ]);
        assert!(v1_canonical_query(&d3).contains("&KeyPairNames=%5B%22k1%22%2C%22k2%22%5D&"));

        let table: [(&str, &str, &Pairs, &str); 3] = [
            ("D1", "POST", &d1, "rRUG+QCnkD99Taw20QiXPIqZczc="),
            ("D2", "GET", &d1, "5B5dR6eTDyPY70dU9tIEvuFvFlA="),
            ("D3", "GET", &d3, "nBluLPa6kpGqV5BKlJOrg6ERpMM="),
        ];
        for (name, method, params, sig) in table {
            let sts = v1_string_to_sign(method, params);
            assert_eq!(v1_sign("testsecret", &sts), sig, "{name}");
            // Parameter order on the wire must not matter.
            let mut shuffled = params.to_vec();
            shuffled.reverse();
            shuffled.insert(3, ("Signature".into(), sig.into()));
            assert_eq!(
                verify_v1(method, &shuffled, "testsecret"),
                Verdict::Ok,
                "{name}"
            );
            assert_eq!(
                mismatch(verify_v1(method, &shuffled, "testsecret2")),
                sts,
                "{name}"
            );
        }
    }

    #[test]
    fn the_kept_v1_key_is_used_only_for_its_own_secret() {
        // Arrange: a request signed with one secret.
        let mut params: Pairs = vec![("Action".into(), "DescribeRegions".into())];
        let sts = v1_string_to_sign("GET", &params);
        params.push(("Signature".into(), v1_sign("secret", &sts)));
        // Act: checked on one thread with that secret, others (one a prefix of it, one longer)
        // and that secret again, so that each check follows one with another secret.
        let verdicts: Vec<bool> = ["secret", "secre", "secret", "secret&", "secret", ""]
            .iter()
            .map(|secret| verify_v1("GET", &params, secret) == Verdict::Ok)
            .collect();
        // Assert
        assert_eq!(verdicts, [true, false, true, false, true, false]);
    }

    #[test]
    fn v1_signature_handling() {
        let mut params = d1_params();
        // Missing Signature: mismatch, still reporting the string to sign.
        assert_eq!(
            mismatch(verify_v1("POST", &params, "testsecret")),
            v1_string_to_sign("POST", &params)
        );
        // Every `Signature` is excluded from the canonical query; only the first is checked.
        let canonical = v1_canonical_query(&params);
        params.push(("Signature".into(), "rRUG+QCnkD99Taw20QiXPIqZczc=".into()));
        params.push(("Signature".into(), "bogus".into()));
        assert_eq!(v1_canonical_query(&params), canonical);
        assert_eq!(verify_v1("POST", &params, "testsecret"), Verdict::Ok);
        params.swap(12, 13);
        assert!(matches!(
            verify_v1("POST", &params, "testsecret"),
            Verdict::Mismatch { .. }
        ));
        // Only the exact key `Signature` is special; an empty Signature never matches.
        let other = pairs(&[("signature", "x"), ("Signature", "")]);
        assert_eq!(v1_canonical_query(&other), "signature=x");
        assert!(matches!(
            verify_v1("GET", &other, "s"),
            Verdict::Mismatch { .. }
        ));
    }

    #[test]
    fn canonical_query_sorting_and_empty_values() {
        let table: &[(&[(&str, &str)], &str)] = &[
            (&[], ""),
            // Empty values stay in, rendered `k=`.
            (&[("SignatureType", ""), ("A", "1")], "A=1&SignatureType="),
            // Repeated keys: ties broken by the encoded value.
            (&[("k", "b"), ("k", "a"), ("k", "")], "k=&k=a&k=b"),
            // Upper case sorts before lower case (byte order), `.` before digits.
            (
                &[("b", "1"), ("B", "1"), ("a.1", "x"), ("a1", "y")],
                "B=1&a.1=x&a1=y&b=1",
            ),
            // Sorted by the *encoded* key: `%C3%A9` (from é) sorts before `~`, unlike raw bytes.
            (&[("a~", "1"), ("aé", "2")], "a%C3%A9=2&a~=1"),
            // Keys are encoded too.
            (&[("a b", "c d")], "a%20b=c%20d"),
        ];
        for (input, want) in table {
            let input = pairs(input);
            assert_eq!(v1_canonical_query(&input), *want, "{input:?}");
            let v3 = v3_canonical_request("GET", "/", &input, &[], &[] as &[&str], "h");
            assert_eq!(v3, format!("GET\n/\n{want}\n\n\nh"), "{input:?}");
        }
    }

    #[test]
    fn bare_key_and_empty_value_are_equivalent() {
        // Python sends `k=`, other clients may send a bare `k`: both decode to ("k", "").
        for raw in ["Flag&RegionId=cn", "Flag=&RegionId=cn", "RegionId=cn&Flag"] {
            let q = form_decode(raw);
            let canonical =
                v3_canonical_request("POST", "/", &q, &[], &[] as &[&str], EMPTY_SHA256);
            assert_eq!(canonical.lines().nth(2), Some("Flag=&RegionId=cn"), "{raw}");
        }
    }

    #[test]
    fn pct_table() {
        let table = [
            ("", ""),
            ("AZaz09-_.~", "AZaz09-_.~"),
            (" ", "%20"),
            ("*", "%2A"),
            ("+", "%2B"),
            ("/", "%2F"),
            (":", "%3A"),
            ("=&%", "%3D%26%25"),
            ("!'()", "%21%27%28%29"),
            ("中文", "%E4%B8%AD%E6%96%87"),
            ("é", "%C3%A9"),
            ("😀", "%F0%9F%98%80"),
            ("\n\0", "%0A%00"),
            ("%2A", "%252A"),
        ];
        for (input, want) in table {
            assert_eq!(pct(input), want, "{input:?}");
        }
    }

    fn published_v3() -> (Pairs, Pairs) {
        let query = pairs(&[
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
            ("RegionId", "cn-shanghai"),
        ]);
        let headers = pairs(&[
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-content-sha256", EMPTY_SHA256),
        ]);
        (query, headers)
    }

    #[test]
    fn published_v3_vector() {
        let (query, headers) = published_v3();
        let auth = parse_v3_authorization(
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;\
             x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,\
             Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0",
        )
        .unwrap();
        assert_eq!(auth.access_key_id, "YourAccessKeyId");
        let canonical = v3_canonical_request(
            "POST",
            "/",
            &query,
            &headers,
            &auth.signed_headers,
            EMPTY_SHA256,
        );
        let sts = v3_string_to_sign(&canonical);
        assert_eq!(
            sts,
            "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        assert_eq!(v3_sign("YourAccessKeySecret", &sts), auth.signature);
        let verify = |secret| verify_v3("POST", "/", &query, &headers, b"", &auth, secret);
        assert_eq!(verify("YourAccessKeySecret"), Verdict::Ok);
        assert_eq!(mismatch(verify("YourAccessKeySecret&")), sts);
    }

    #[test]
    fn derived_v3_vectors() {
        let query = form_decode(
            "KeyPairName=my-key&RegionId=cn-hangzhou&Tag.1.Key=env&Tag.1.Value=dev%20test%2A~",
        );
        let base = pairs(&[
            ("host", "ecs.cn-hangzhou.aliyuncs.com"),
            ("x-acs-action", "CreateKeyPair"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", "2024-01-01T00:00:00Z"),
            ("x-acs-signature-nonce", "0123456789abcdef0123456789abcdef"),
            ("x-acs-content-sha256", EMPTY_SHA256),
        ]);
        let d5_extra = pairs(&[
            ("accept", "application/json"),
            (
                "user-agent",
                "AlibabaCloud (Linux; x86_64) Python/3.11.2 Core/0.4.6 TeaDSL/2",
            ),
        ]);
        let d6_extra = pairs(&[
            ("x-acs-accesskey-id", "STS.testid"),
            ("x-acs-security-token", "tok123"),
        ]);
        let d5: Vec<_> = base.iter().chain(&d5_extra).cloned().collect();
        let d6: Vec<_> = d5.iter().chain(&d6_extra).cloned().collect();
        let table: [(&str, &Pairs, &str, &str, &str); 3] = [
            (
                "D4",
                &base,
                "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;\
                 x-acs-version",
                "testid",
                "93559fc4adde4ac575c538ded52d4cfa399dc4c4337d23d903ebd1f96c7209fc",
            ),
            (
                "D5",
                &d5,
                "accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-date;\
                 x-acs-signature-nonce;x-acs-version",
                "testid",
                "c16e49184ba8c6069ddd97f5d69b0dee4394e12099da9e6e61b0bbbd9b4e6125",
            ),
            (
                "D6",
                &d6,
                "accept;host;user-agent;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;\
                 x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version",
                "STS.testid",
                "a2d958416484f2d8d65b4f6e0764d16f842e2aa139fd717f906ad42d440e8885",
            ),
        ];
        for (name, headers, signed, credential, sig) in table {
            let header = format!(
                "ACS3-HMAC-SHA256 Credential={credential},SignedHeaders={signed},Signature={sig}"
            );
            let auth = parse_v3_authorization(&header).unwrap();
            assert_eq!(auth.access_key_id, credential, "{name}");
            let verify = |secret| verify_v3("POST", "/", &query, headers, b"", &auth, secret);
            assert_eq!(verify("testsecret"), Verdict::Ok, "{name}");
            assert!(
                matches!(verify("testsecret2"), Verdict::Mismatch { .. }),
                "{name}"
            );
        }
    }

    #[test]
    fn v3_canonical_headers() {
        let headers = pairs(&[
            ("Host", "  example.com "),
            ("X-Acs-Retry-Attempts", "1"),
            ("x-acs-multi", "a"),
            ("Unsigned", "zzz"),
            ("X-ACS-MULTI", " b\t"),
        ]);
        let signed: Vec<String> = [
            "host",
            "X-Acs-Multi",
            "x-acs-missing",
            "x-acs-retry-attempts",
        ]
        .map(String::from)
        .to_vec();
        let canonical = v3_canonical_request("POST", "/", &[], &headers, &signed, "hash");
        // Lines sorted by name (API reference §3.4); the SignedHeaders line as given.
        assert_eq!(
            canonical,
            "POST\n/\n\nhost:example.com\nx-acs-missing:\nx-acs-multi:a,b\n\
             x-acs-retry-attempts:1\n\nhost;x-acs-multi;x-acs-missing;x-acs-retry-attempts\nhash"
        );
    }

    /// Regression (wire review, sixteenth session): header lines were written in the order
    /// of SignedHeaders, so the Java signer (list joined unsorted, lines sorted) failed; a
    /// repeated header's values in arrival order, where the Python, Node and Go signers sort
    /// them; and an empty query value signed as a bare `k` (§7.13) was refused. Each of the
    /// reference's form and the forms it leaves open verifies, and a mismatch reports the
    /// reference's string to sign.
    #[test]
    fn v3_forms_the_reference_leaves_open_verify_too() {
        let query = pairs(&[("Empty", ""), ("RegionId", "cn-hangzhou")]);
        let headers = pairs(&[
            ("host", "h"),
            ("x-acs-date", "2024-01-01T00:00:00Z"),
            ("x-acs-multi", "b"),
            ("X-Acs-Multi", "a"),
            ("x-acs-action", "DescribeRegions"),
        ]);
        // Java's HashMap order: not sorted.
        let signed: Vec<String> = ["x-acs-action", "host", "x-acs-multi", "x-acs-date"]
            .map(String::from)
            .to_vec();
        let q: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let sign = |form: V3Form| {
            let canonical =
                canonical_request_as(form, "POST", "/", &q, &headers, &signed, EMPTY_SHA256);
            v3_sign("secret", &v3_string_to_sign(&canonical))
        };
        for headers_as_given in [false, true] {
            for bare_empty_values in [false, true] {
                let form = V3Form {
                    headers_as_given,
                    bare_empty_values,
                    order: Order::Encoded,
                };
                let signature = sign(form);
                let auth = V3Authorization {
                    access_key_id: "ak",
                    signed_headers: signed.iter().map(|n| Cow::Borrowed(n.as_str())).collect(),
                    signature: &signature,
                };
                assert_eq!(
                    verify_v3("POST", "/", &query, &headers, b"", &auth, "secret"),
                    Verdict::Ok,
                    "{form:?}"
                );
                let Verdict::Mismatch { string_to_sign } =
                    verify_v3("POST", "/", &query, &headers, b"", &auth, "other")
                else {
                    panic!("{form:?}: another secret verified");
                };
                let spec =
                    v3_canonical_request("POST", "/", &query, &headers, &signed, EMPTY_SHA256);
                assert_eq!(string_to_sign, v3_string_to_sign(&spec), "{form:?}");
            }
        }
        let spec = v3_canonical_request("POST", "/", &query, &headers, &signed, EMPTY_SHA256);
        assert!(
            spec.contains("\nhost:h\nx-acs-action:DescribeRegions\nx-acs-date:"),
            "{spec}"
        );
        assert!(spec.contains("\nx-acs-multi:a,b\n"), "{spec}");
        assert!(
            spec.starts_with("POST\n/\nEmpty=&RegionId=cn-hangzhou\n"),
            "{spec}"
        );
    }

    /// Regression (SDK wire review, twenty-eighth session): parameters were sorted only by
    /// their encoded keys, as the reference's V1 recipe says, where the SDKs sort decoded keys
    /// (sdk-wire-behaviour.md §2), so a client adding a key such as `é` or `a:b` got
    /// `SignatureDoesNotMatch`. Both orders verify, in V1 and V3; a mismatch still reports the
    /// reference's string to sign.
    #[test]
    fn keys_sorted_decoded_or_encoded_both_verify() {
        let query = pairs(&[
            ("Action", "DescribeRegions"),
            ("é", "1"),
            ("Zeta", "2"),
            ("a:b", "3"),
            ("a-b", "4"),
        ]);
        let q: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let canonical = |order| {
            let mut out = String::new();
            canonical_query_into(&mut out, q.iter().copied(), order);
            out
        };
        // The two orders differ here: `%` sorts before `-` and every letter, `é`'s bytes after them.
        assert_eq!(
            canonical(Order::Encoded),
            "%C3%A9=1&Action=DescribeRegions&Zeta=2&a%3Ab=3&a-b=4"
        );
        assert_eq!(
            canonical(Order::Decoded),
            "Action=DescribeRegions&Zeta=2&a-b=4&a%3Ab=3&%C3%A9=1"
        );
        for order in [Order::Encoded, Order::Decoded] {
            let string_to_sign = format!("GET&%2F&{}", pct(&canonical(order)));
            let mut signed = query.clone();
            signed.push(("Signature".into(), v1_sign("secret", &string_to_sign)));
            assert_eq!(
                verify_v1("GET", &signed, "secret"),
                Verdict::Ok,
                "{order:?}"
            );
            let Verdict::Mismatch { string_to_sign } = verify_v1("GET", &signed, "other") else {
                panic!("{order:?}: another secret verified");
            };
            assert_eq!(
                string_to_sign,
                v1_string_to_sign("GET", &query),
                "{order:?}"
            );

            let headers = pairs(&[("host", "h")]);
            let names = vec!["host".to_string()];
            let form = V3Form {
                order,
                ..V3Form::SPEC
            };
            let v3 = canonical_request_as(form, "GET", "/", &q, &headers, &names, EMPTY_SHA256);
            let signature = v3_sign("secret", &v3_string_to_sign(&v3));
            let auth = V3Authorization {
                access_key_id: "ak",
                signed_headers: vec![Cow::Borrowed("host")],
                signature: &signature,
            };
            assert_eq!(
                verify_v3("GET", "/", &query, &headers, b"", &auth, "secret"),
                Verdict::Ok,
                "{order:?}"
            );
        }
        // Keys `pct` leaves alone sort the same either way: one form is tried.
        assert_eq!(
            Order::candidates(["A", "b-c", "~"].into_iter()),
            &[Order::Encoded]
        );
    }

    /// A self-signed V3 request over `body`, for tampering tests: its query, its headers and
    /// its `Authorization` value.
    fn signed_v3(body: &[u8], declared_hash: Option<&str>) -> (Pairs, Pairs, String) {
        let query = pairs(&[("RegionId", "cn-hangzhou")]);
        let mut headers = pairs(&[
            ("host", "127.0.0.1:18080"),
            ("x-acs-action", "CreateKeyPair"),
            ("x-acs-date", "2024-01-01T00:00:00Z"),
            ("user-agent", "test"),
        ]);
        let mut signed: Vec<String> = ["host", "x-acs-action", "x-acs-date"]
            .map(String::from)
            .to_vec();
        if let Some(h) = declared_hash {
            headers.push(("X-Acs-Content-Sha256".into(), h.into()));
            signed.push("x-acs-content-sha256".into());
        }
        let hashed = declared_hash.map_or_else(|| sha256_hex(body), str::to_owned);
        let canonical = v3_canonical_request("POST", "/", &query, &headers, &signed, &hashed);
        let signature = v3_sign("secret", &v3_string_to_sign(&canonical));
        let auth = format!(
            "{V3_ALGORITHM} Credential=ak,SignedHeaders={},Signature={signature}",
            signed.join(";")
        );
        (query, headers, auth)
    }

    #[test]
    fn v3_payload_hash_and_tampering() {
        let body = b"KeyPairName=x";
        let ok = |q: &[(String, String)], h: &[(String, String)], b: &[u8], a: &str| {
            let a = parse_v3_authorization(a).unwrap();
            verify_v3("POST", "/", q, h, b, &a, "secret") == Verdict::Ok
        };

        // Declared hash matching the body, in either hex case.
        let (q, h, a) = signed_v3(body, Some(&sha256_hex(body)));
        assert!(ok(&q, &h, body, &a));
        let (q, h, a) = signed_v3(body, Some(&sha256_hex(body).to_ascii_uppercase()));
        assert!(ok(&q, &h, body, &a));
        // No header: the body hash is used.
        let (q, h, a) = signed_v3(body, None);
        assert!(ok(&q, &h, body, &a));
        assert!(!ok(&q, &h, b"KeyPairName=y", &a));
        // Declared hash correctly signed but not matching the body.
        let (q, h, a) = signed_v3(body, Some(EMPTY_SHA256));
        assert!(!ok(&q, &h, body, &a));
        assert!(ok(&q, &h, b"", &a));

        let (q, h, a) = signed_v3(body, Some(&sha256_hex(body)));
        // Upper-case hex signature is accepted.
        let (head, signature) = a.split_once("Signature=").unwrap();
        assert!(ok(
            &q,
            &h,
            body,
            &format!("{head}Signature={}", signature.to_ascii_uppercase())
        ));
        // Unsigned headers may change; signed headers, query, method and path may not.
        let mut h2 = h.clone();
        h2[3].1 = "other agent".into();
        assert!(ok(&q, &h2, body, &a));
        let mut h3 = h.clone();
        h3[1].1 = "DeleteKeyPairs".into();
        assert!(!ok(&q, &h3, body, &a));
        let mut h4 = h.clone();
        h4.push(("host".into(), "evil".into()));
        assert!(!ok(&q, &h4, body, &a));
        assert!(!ok(&pairs(&[("RegionId", "cn-beijing")]), &h, body, &a));
        assert!(!ok(&[], &h, body, &a));
        let parsed = parse_v3_authorization(&a).unwrap();
        assert_ne!(
            verify_v3("GET", "/", &q, &h, body, &parsed, "secret"),
            Verdict::Ok
        );
        assert_ne!(
            verify_v3("POST", "/x", &q, &h, body, &parsed, "secret"),
            Verdict::Ok
        );
        // Dropping a header from SignedHeaders changes the canonical request.
        let fewer = a.replace("SignedHeaders=host;", "SignedHeaders=");
        assert_ne!(fewer, a);
        assert!(!ok(&q, &h, body, &fewer));
    }

    #[test]
    fn parse_v3_authorization_accepts() {
        let sig = "093f3b6e7455e8d2ee59ec5b75f87d20ca2d8a593c58dac01c5e264944ead9e2";
        let upper = sig.to_ascii_uppercase();
        let table: &[(String, &str, &[&str], &str)] = &[
            (
                format!("ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host;x-acs-date,Signature={sig}"),
                "ak",
                &["host", "x-acs-date"],
                sig,
            ),
            (
                format!("  ACS3-HMAC-SHA256   Credential=STS.a-b , SignedHeaders=host, Signature={upper} "),
                "STS.a-b",
                &["host"],
                &upper,
            ),
            (
                format!("ACS3-HMAC-SHA256\tSignature={sig},SignedHeaders=Host;X-Acs-Date;host,Credential=ak"),
                "ak",
                &["host", "x-acs-date", "host"],
                sig,
            ),
        ];
        for (value, ak, headers, signature) in table {
            let want = V3Authorization {
                access_key_id: ak,
                signed_headers: headers.iter().map(|h| Cow::Borrowed(*h)).collect(),
                signature,
            };
            assert_eq!(parse_v3_authorization(value), Ok(want), "{value}");
        }
    }

    #[test]
    fn header_name_bytes_are_rfc_9110_tchars() {
        for b in 0..=255u8 {
            let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(TCHAR[usize::from(b)], tchar, "{b:#04x}");
        }
        assert!(is_header_name("x-acs-signature-nonce"));
        assert!(!is_header_name(""));
        assert!(!is_header_name("host:x"));
        assert!(!is_header_name("caf\u{e9}"));
    }

    #[test]
    fn parse_v3_authorization_rejects() {
        let sig = "093f3b6e7455e8d2ee59ec5b75f87d20ca2d8a593c58dac01c5e264944ead9e2";
        let good_tail = format!("SignedHeaders=host,Signature={sig}");
        let table = [
            String::new(),
            "   ".into(),
            "ACS3-HMAC-SHA256".into(),
            "ACS3-HMAC-SHA256 ".into(),
            format!("ACS3-HMAC-SHA256Credential=ak,{good_tail}"),
            format!("ACS3-HMAC-SHA1 Credential=ak,{good_tail}"),
            format!("acs3-hmac-sha256 Credential=ak,{good_tail}"),
            format!("HMAC-SHA256 Credential=ak,{good_tail}"),
            format!("Bearer ak,{good_tail}"),
            format!("ACS3-HMAC-SHA256 {good_tail}"),
            format!("ACS3-HMAC-SHA256 Credential=,{good_tail}"),
            format!("ACS3-HMAC-SHA256 Credential=ak,Signature={sig}"),
            format!("ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=,Signature={sig}"),
            format!("ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host;;date,Signature={sig}"),
            format!("ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host;,Signature={sig}"),
            format!("ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=ho st,Signature={sig}"),
            format!("ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host:x,Signature={sig}"),
            format!("ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=hóst,Signature={sig}"),
            // Regression (findings-proto #4): listed, it could only ever mismatch.
            format!(
                "ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=Authorization;host,Signature={sig}"
            ),
            "ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host".into(),
            "ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host,Signature=".into(),
            format!(
                "ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host,Signature={}",
                &sig[1..]
            ),
            format!("ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host,Signature={sig}0"),
            format!(
                "ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host,Signature=g{}",
                &sig[1..]
            ),
            format!(
                "ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host,Signature={}é",
                &sig[2..]
            ),
            format!("ACS3-HMAC-SHA256 Credential=ak,{good_tail},"),
            format!("ACS3-HMAC-SHA256 Credential=ak,,{good_tail}"),
            format!("ACS3-HMAC-SHA256 Credential=ak,{good_tail},Extra=1"),
            format!("ACS3-HMAC-SHA256 Credential=ak,Credential=ak,{good_tail}"),
            format!("ACS3-HMAC-SHA256 credential=ak,{good_tail}"),
            format!("ACS3-HMAC-SHA256 Credential ak,{good_tail}"),
            format!("ACS3-HMAC-SHA256 Credential=ak;{good_tail}"),
            "ACS3-HMAC-SHA256é".into(),
            "\u{0}\u{ffff}===,,,;;;".into(),
        ];
        for value in table {
            let err = parse_v3_authorization(&value).expect_err(&value);
            assert!(!err.0.is_empty(), "{value}");
            assert_eq!(err.to_string(), err.0);
        }
    }

    #[test]
    fn signatures_equal_table() {
        let table = [
            ("", "", true),
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("abc", "ab", false),
            ("ab", "abc", false),
            ("abc", "ABC", false),
            (
                "OLeaidS1JvxuMvnyHOwuJ+uX5qY=",
                "OLeaidS1JvxuMvnyHOwuJ+uX5qY=",
                true,
            ),
            (
                "OLeaidS1JvxuMvnyHOwuJ+uX5qY=",
                "OLeaidS1JvxuMvnyHOwuJ+uX5qZ=",
                false,
            ),
        ];
        for (a, b, want) in table {
            assert_eq!(signatures_equal(a, b), want, "{a:?} vs {b:?}");
        }
    }

    /// The canonical request as the reference describes it, written plainly (a string per
    /// line and per header), to hold the one-buffer version to.
    fn plain_canonical_request(
        form: V3Form,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        signed: &[String],
    ) -> String {
        let mut q = match form.order {
            Order::Encoded => canonical_query(query.iter().copied()),
            Order::Decoded => {
                let mut sorted: Vec<(&str, String)> =
                    query.iter().map(|(k, v)| (*k, pct(v))).collect();
                sorted.sort();
                sorted
                    .iter()
                    .map(|(k, v)| format!("{}={v}", pct(k)))
                    .collect::<Vec<_>>()
                    .join("&")
            }
        };
        if form.bare_empty_values {
            q = q
                .split('&')
                .map(|p| p.strip_suffix('=').unwrap_or(p))
                .collect::<Vec<_>>()
                .join("&");
        }
        let names: Vec<String> = signed.iter().map(|n| n.to_ascii_lowercase()).collect();
        let mut lines: Vec<(String, String)> = names
            .iter()
            .map(|name| {
                let mut values: Vec<&str> = headers
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim())
                    .collect();
                if !form.headers_as_given {
                    values.sort_unstable();
                }
                (name.clone(), values.join(","))
            })
            .collect();
        if !form.headers_as_given {
            lines.sort();
        }
        let header_lines: String = lines.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        format!("POST\n/\n{q}\n{header_lines}\n{}\nh", names.join(";"))
    }

    #[test]
    fn the_canonical_request_is_the_plain_recipes_in_every_form() {
        let headers = [
            ("Host", "h:1"),
            ("x-acs-date", " d "),
            ("X-Acs-Extra", "b"),
            ("x-acs-extra", "a"),
            ("x-acs-action", "A"),
        ];
        // `é` and `a:b` sort apart decoded and encoded.
        let query = [
            ("Flag", ""),
            ("b", "x y"),
            ("A", "*"),
            ("é", "1"),
            ("a:b", "2"),
        ];
        let lists: [&[&str]; 4] = [
            &["host", "x-acs-action", "x-acs-date"],
            &["x-acs-date", "Host", "x-acs-extra", "x-acs-missing"],
            &["X-ACS-Extra", "host", "host"],
            &[],
        ];
        for list in lists {
            let signed: Vec<String> = list.iter().map(|n| n.to_string()).collect();
            for headers_as_given in [false, true] {
                for bare_empty_values in [false, true] {
                    for order in [Order::Encoded, Order::Decoded] {
                        let form = V3Form {
                            headers_as_given,
                            bare_empty_values,
                            order,
                        };
                        assert_eq!(
                            canonical_request_as(form, "POST", "/", &query, headers, &signed, "h"),
                            plain_canonical_request(form, &query, &headers, &signed),
                            "{form:?} {list:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn block_key_matches_new_from_slice() {
        // Secrets shorter than, equal to and longer than the 64-byte block of SHA-1 and SHA-256.
        for len in [0, 1, 20, 32, 63, 64, 65, 200] {
            let secret = "k".repeat(len);
            let msg = b"message";

            let mut reference = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            reference.update(msg);
            assert_eq!(
                v3_sign(&secret, "message"),
                reference
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
                "sha256/{len}"
            );

            let mut reference =
                Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).unwrap();
            reference.update(msg);
            assert_eq!(
                v1_sign(&secret, "message"),
                base64::engine::general_purpose::STANDARD.encode(reference.finalize().into_bytes()),
                "sha1/{len}"
            );
        }
    }

    #[test]
    fn sha256_hex_known_values() {
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
