//! Parsing and fingerprinting of `ImportKeyPair`'s `PublicKeyBody`.
//!
//! The documentation only promises "OpenSSH public key" for the accepted types (spec §2), so
//! the rules follow what OpenSSH's `sshkey_read`/`sshkey_from_blob` accept, with these
//! deliberate choices:
//!
//! * Base64 must be standard-alphabet, padded and canonical (no stray bits in the last
//!   symbol). OpenSSH's `b64_pton` rejects unpadded input too, so a key the mock accepts
//!   is one `ssh-keygen` would also read, and re-encoding the blob reproduces the input.
//! * mpints must be canonical (RFC 4251 §5: no superfluous leading zero byte) and
//!   non-negative. OpenSSH tolerates extra zero bytes but fingerprints the re-encoded key,
//!   so accepting them would make our MD5-of-the-blob disagree with `ssh-keygen -l`.
//! * RSA moduli from 512 to 16384 bits are accepted. OpenSSH refuses < 1024 bits, but the
//!   real service's floor is unknown and small keys keep client test suites fast; the
//!   upper bound is OpenSSH's own (`SSHBUF_MAX_BIGNUM`).
//! * ECDSA points must be uncompressed, of the curve's length, on the curve and with both
//!   coordinates over half the order's bits and below the order minus one, as OpenSSH
//!   requires; a key the real tools would refuse is not imported.
//! * `ssh-ed25519` (and its certificate) is not in the documented type list (spec §7 item
//!   8), so it is rejected unless [`ParseOptions::allow_ed25519`] is set.
//! * Certificates: the nonce and the certified key are validated like a plain key; the
//!   remaining fields are only framed (each length-checked, nothing after the signature)
//!   and never interpreted: no signature, validity or principal checks, and the CA key is
//!   not parsed. Their fingerprint is that of the certified plain key, as `ssh-keygen -l`
//!   prints it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// A parsed, validated OpenSSH public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The type named inside the blob (always equal to the line's type), e.g. `ssh-rsa`.
    pub key_type: &'static str,
    /// The decoded wire-format blob.
    pub blob: Vec<u8>,
    /// Normalised `"<type> <base64>"` without the comment, as stored and returned by
    /// `DescribeKeyPairs`.
    pub openssh: String,
    /// The fingerprint in [`ParseOptions::fingerprint`]'s digest, lower-case hex octets joined
    /// by `:`: for MD5 (RFC 4716) identical to `ssh-keygen -l -E md5` without the `MD5:`
    /// prefix. For certificates this is the fingerprint of the certified plain key (what
    /// `ssh-keygen` prints), not of `blob`.
    pub fingerprint: String,
}

/// Why a `PublicKeyBody` was rejected; every variant maps to `InvalidPublicKeyBody.Malformed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedKey {
    #[error("public key body is empty")]
    Empty,
    #[error("public key body is longer than {max} bytes", max = MAX_TEXT_LEN)]
    TooLong,
    #[error("public key body contains more than one line")]
    MultipleLines,
    #[error("unsupported key type {0:?}")]
    UnknownType(String),
    #[error("ssh-ed25519 keys are not accepted (not a documented ImportKeyPair key type)")]
    Ed25519NotSupported,
    #[error("no base64 key data after the key type")]
    MissingKeyData,
    #[error("key data is not canonical padded standard base64")]
    BadBase64,
    #[error("key line says {line:?} but the key data is of type {blob:?}")]
    TypeMismatch { line: String, blob: String },
    #[error("key data is truncated")]
    Truncated,
    #[error("key data has bytes after its last field")]
    TrailingBytes,
    #[error("invalid key data: {0}")]
    InvalidKeyData(&'static str),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// Accept `ssh-ed25519` and `ssh-ed25519-cert-v01@openssh.com` (spec §7 item 8).
    pub allow_ed25519: bool,
    /// The digest of [`PublicKey::fingerprint`] (`--fingerprint`).
    pub fingerprint: crate::keygen::Fingerprint,
}

/// Upper bound on the accepted text. Generous for the largest realistic input (a
/// certificate for a 16384-bit RSA key signed by a 16384-bit RSA CA is about 9 KiB of
/// base64) while keeping decode allocations small whatever a client sends.
const MAX_TEXT_LEN: usize = 64 * 1024;

/// Cap on key type text echoed back in errors, so error messages and logs stay small.
const MAX_ECHOED_TYPE_LEN: usize = 64;

const RSA_MIN_BITS: usize = 512;
const RSA_MAX_BITS: usize = 16384;
const DSA_MIN_BITS: usize = 512;
/// OpenSSL's `OPENSSL_DSA_MAX_MODULUS_BITS`, the limit OpenSSH inherits.
const DSA_MAX_BITS: usize = 10000;
const ED25519_KEY_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn name(self) -> &'static [u8] {
        match self {
            Curve::P256 => b"nistp256",
            Curve::P384 => b"nistp384",
            Curve::P521 => b"nistp521",
        }
    }

    /// The curve's group order n, minus one, as a coordinate's bytes (hex, SEC 2).
    fn order_minus_one(self) -> &'static str {
        match self {
            Curve::P256 => "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550",
            Curve::P384 => {
                "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf\
                 581a0db248b0a77aecec196accc52972"
            }
            Curve::P521 => {
                "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
                 fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386408"
            }
        }
    }

    /// [`Curve::order_minus_one`] as bytes, of a coordinate's length.
    fn order_minus_one_bytes(self) -> Vec<u8> {
        let hex = self.order_minus_one();
        (0..hex.len() / 2)
            .map(|i| {
                u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("curve constants are hex")
            })
            .collect()
    }

    /// Whether both coordinates of the uncompressed `point` are in the range OpenSSH
    /// (`sshkey_ec_validate_public`) accepts for a point on the curve: more than half the
    /// order's bits, and below n − 1. Outside it a key is taken for a small-subgroup or
    /// invalid-curve one, and `ssh-keygen` will not read it.
    fn coordinates_in_range(self, point: &[u8]) -> bool {
        let bits = |bytes: &[u8]| match bytes.iter().position(|&b| b != 0) {
            None => 0,
            Some(i) => (bytes.len() - i) as u32 * 8 - bytes[i].leading_zeros(),
        };
        let half = (point.len() - 1) / 2;
        let limit = self.order_minus_one_bytes();
        let order_bits = bits(&limit);
        // Both are big-endian and of the coordinate's length: bytes compare as numbers.
        let in_range = |c: &[u8]| bits(c) > order_bits / 2 && c < limit.as_slice();
        in_range(&point[1..=half]) && in_range(&point[1 + half..])
    }

    /// 0x04 || X || Y with coordinates of ceil(field bits / 8) bytes.
    fn uncompressed_point_len(self) -> usize {
        match self {
            Curve::P256 => 1 + 2 * 32,
            Curve::P384 => 1 + 2 * 48,
            Curve::P521 => 1 + 2 * 66,
        }
    }

    /// The field prime p and the coefficient b of y² = x³ − 3x + b (SEC 2, FIPS 186-4).
    fn prime_and_b(self) -> (&'static str, &'static str) {
        match self {
            Curve::P256 => (
                "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
                "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b",
            ),
            Curve::P384 => (
                "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe\
                 ffffffff0000000000000000ffffffff",
                "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875a\
                 c656398d8a2ed19d2a85c8edd3ec2aef",
            ),
            Curve::P521 => (
                "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
                 ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef1\
                 09e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00",
            ),
        }
    }

    /// Whether the uncompressed `point` (0x04 || X || Y, of the curve's length) is on the
    /// curve, both coordinates reduced: what OpenSSH checks before it accepts such a key.
    fn contains(self, point: &[u8]) -> bool {
        use crypto_bigint::{BoxedUint, NonZero};
        // Every field fits in 576 bits (nine limbs); one precision keeps the operands alike.
        const BITS: u32 = 576;
        let (p_hex, b_hex) = self.prime_and_b();
        let field = |hex: &str| {
            let padded = format!("{hex:0>144}");
            BoxedUint::from_be_hex(&padded, BITS).expect("curve constants are hex")
        };
        let p = NonZero::new(field(p_hex)).expect("the field prime is not zero");
        let b = field(b_hex);
        let half = (point.len() - 1) / 2;
        let coordinate = |bytes: &[u8]| {
            BoxedUint::from_be_slice(bytes, BITS).expect("a coordinate is at most 66 bytes")
        };
        let (x, y) = (coordinate(&point[1..=half]), coordinate(&point[1 + half..]));
        if x >= *p.as_ref() || y >= *p.as_ref() {
            return false;
        }
        let x3 = x.square_mod(&p).mul_mod(&x, &p);
        let three_x = x.add_mod(&x, &p).add_mod(&x, &p);
        let rhs = x3.sub_mod(&three_x, &p).add_mod(&b, &p);
        y.square_mod(&p) == rhs
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algo {
    Rsa,
    Dss,
    Ecdsa(Curve),
    Ed25519,
}

impl Algo {
    /// Type name of the plain key, used to rebuild a certified key's blob for fingerprinting.
    fn plain_name(self) -> &'static str {
        match self {
            Algo::Rsa => "ssh-rsa",
            Algo::Dss => "ssh-dss",
            Algo::Ecdsa(Curve::P256) => "ecdsa-sha2-nistp256",
            Algo::Ecdsa(Curve::P384) => "ecdsa-sha2-nistp384",
            Algo::Ecdsa(Curve::P521) => "ecdsa-sha2-nistp521",
            Algo::Ed25519 => "ssh-ed25519",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CertFormat {
    Plain,
    /// Legacy OpenSSH 5.4–6.9 certificates: no leading nonce, no serial or extensions.
    V00,
    V01,
}

struct KeyKind {
    name: &'static str,
    algo: Algo,
    cert: CertFormat,
}

const fn kind(name: &'static str, algo: Algo, cert: CertFormat) -> KeyKind {
    KeyKind { name, algo, cert }
}

/// The documented types (spec §2) plus ed25519, which is gated by [`ParseOptions`].
const KINDS: &[KeyKind] = {
    use Algo::{Dss, Ed25519, Rsa};
    use CertFormat::{Plain, V00, V01};
    const P256: Algo = Algo::Ecdsa(Curve::P256);
    const P384: Algo = Algo::Ecdsa(Curve::P384);
    const P521: Algo = Algo::Ecdsa(Curve::P521);
    &[
        kind("ssh-rsa", Rsa, Plain),
        kind("ssh-dss", Dss, Plain),
        kind("ecdsa-sha2-nistp256", P256, Plain),
        kind("ecdsa-sha2-nistp384", P384, Plain),
        kind("ecdsa-sha2-nistp521", P521, Plain),
        kind("ssh-ed25519", Ed25519, Plain),
        kind("ssh-rsa-cert-v01@openssh.com", Rsa, V01),
        kind("ssh-dss-cert-v01@openssh.com", Dss, V01),
        kind("ecdsa-sha2-nistp256-cert-v01@openssh.com", P256, V01),
        kind("ecdsa-sha2-nistp384-cert-v01@openssh.com", P384, V01),
        kind("ecdsa-sha2-nistp521-cert-v01@openssh.com", P521, V01),
        kind("ssh-ed25519-cert-v01@openssh.com", Ed25519, V01),
        kind("ssh-rsa-cert-v00@openssh.com", Rsa, V00),
        kind("ssh-dss-cert-v00@openssh.com", Dss, V00),
    ]
};

/// Parses one OpenSSH public key line, `<type> <base64> [comment...]`.
///
/// # Errors
///
/// Any [`MalformedKey`]; callers answer all of them with `InvalidPublicKeyBody.Malformed`.
pub fn parse_openssh_public_key(text: &str, opts: ParseOptions) -> Result<PublicKey, MalformedKey> {
    // The limit is on the value as sent, whitespace included, as README states it.
    if text.len() > MAX_TEXT_LEN {
        return Err(MalformedKey::TooLong);
    }
    // Clients commonly send the file contents verbatim, trailing newline (or CRLF) included.
    let text = text.trim();
    if text.is_empty() {
        return Err(MalformedKey::Empty);
    }
    // After trimming, any line break left has content on both sides: an authorized_keys
    // style multi-key body, which ImportKeyPair cannot store as one key pair. (memchr, like
    // the field split below: a byte-at-a-time scan of the key was a third of an import's
    // parse.)
    if memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_some() {
        return Err(MalformedKey::MultipleLines);
    }

    let mut fields = Fields(text);
    let type_name = fields.next().ok_or(MalformedKey::Empty)?;
    let kind = KINDS
        .iter()
        .find(|k| k.name == type_name)
        .ok_or_else(|| MalformedKey::UnknownType(echo_type(type_name.as_bytes())))?;
    if kind.algo == Algo::Ed25519 && !opts.allow_ed25519 {
        return Err(MalformedKey::Ed25519NotSupported);
    }
    // Everything after the base64 field is a free-form comment and is dropped.
    let b64 = fields.next().ok_or(MalformedKey::MissingKeyData)?;
    let blob = STANDARD.decode(b64).map_err(|_| MalformedKey::BadBase64)?;

    let key_fields = check_blob(kind, &blob)?;
    let fingerprint = if kind.cert == CertFormat::Plain {
        opts.fingerprint.of(&blob)
    } else {
        // The certified key's fields are encoded exactly as in its plain blob, so the plain
        // blob is its type name followed by those bytes.
        let plain_name = kind.algo.plain_name();
        let mut plain = Vec::with_capacity(4 + plain_name.len() + key_fields.len());
        put_string(&mut plain, plain_name.as_bytes());
        plain.extend_from_slice(key_fields);
        opts.fingerprint.of(&plain)
    };

    // STANDARD decoding only accepts canonical base64 (padded, no stray bits), so the field
    // as sent is what encoding the blob would give, without encoding it again. Sized up
    // front: `format!` grew it three times per import.
    let mut openssh = String::with_capacity(kind.name.len() + 1 + b64.len());
    openssh.push_str(kind.name);
    openssh.push(' ');
    openssh.push_str(b64);
    Ok(PublicKey {
        key_type: kind.name,
        openssh,
        blob,
        fingerprint,
    })
}

/// The whitespace-separated fields of a line with no line breaks: what
/// `split_ascii_whitespace` gives, with the end of each field found by `memchr`.
struct Fields<'a>(&'a str);

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        // Line breaks were refused before, so the ASCII whitespace left is space, tab and
        // form feed.
        let rest = self.0.trim_start_matches([' ', '\t', '\x0c']);
        if rest.is_empty() {
            self.0 = rest;
            return None;
        }
        let end = memchr::memchr3(b' ', b'\t', b'\x0c', rest.as_bytes()).unwrap_or(rest.len());
        self.0 = &rest[end..];
        Some(&rest[..end])
    }
}

/// Validates the blob's structure and returns the bytes of the key's own fields (after the
/// type name, and after the nonce for v01 certificates).
fn check_blob<'a>(kind: &KeyKind, blob: &'a [u8]) -> Result<&'a [u8], MalformedKey> {
    let mut r = Reader(blob);
    let blob_type = r.string()?;
    // A blob of another type under this line's label would be stored and described under
    // the wrong type, so OpenSSH refuses it and so do we.
    if blob_type != kind.name.as_bytes() {
        return Err(MalformedKey::TypeMismatch {
            line: kind.name.to_owned(),
            blob: echo_type(blob_type),
        });
    }
    if kind.cert == CertFormat::V01 {
        r.string()?; // nonce
    }
    let before = r.0;
    check_key_fields(kind.algo, &mut r)?;
    let key_fields = &before[..before.len() - r.0.len()];
    match kind.cert {
        CertFormat::Plain => {}
        CertFormat::V00 => skip_cert_tail_v00(&mut r)?,
        CertFormat::V01 => skip_cert_tail_v01(&mut r)?,
    }
    if !r.0.is_empty() {
        return Err(MalformedKey::TrailingBytes);
    }
    Ok(key_fields)
}

fn check_key_fields(algo: Algo, r: &mut Reader<'_>) -> Result<(), MalformedKey> {
    match algo {
        Algo::Rsa => {
            let e = r.mpint()?;
            let n = r.mpint()?;
            let bits = bit_len(n);
            if bits < RSA_MIN_BITS {
                return Err(MalformedKey::InvalidKeyData(
                    "RSA modulus is shorter than 512 bits",
                ));
            }
            if bits > RSA_MAX_BITS {
                return Err(MalformedKey::InvalidKeyData(
                    "RSA modulus is longer than 16384 bits",
                ));
            }
            // RFC 8017 §3.1: e odd, 3 <= e < n, and n odd (a product of odd primes).
            // OpenSSH reads such keys, but OpenSSL calls them invalid and no RSA operation
            // with them works: they are refused like an ECDSA point off its curve.
            let odd = |x: &[u8]| x.last().is_some_and(|b| b & 1 == 1);
            if !odd(e) || e == [1] {
                return Err(MalformedKey::InvalidKeyData(
                    "RSA public exponent is not an odd number of at least 3",
                ));
            }
            // Canonical mpints: the longer is the larger, else the first differing byte.
            if (e.len(), e) >= (n.len(), n) {
                return Err(MalformedKey::InvalidKeyData(
                    "RSA public exponent is not below the modulus",
                ));
            }
            if !odd(n) {
                return Err(MalformedKey::InvalidKeyData("RSA modulus is even"));
            }
        }
        Algo::Dss => {
            let p = r.mpint()?;
            let q = r.mpint()?;
            let g = r.mpint()?;
            let y = r.mpint()?;
            let bits = bit_len(p);
            if bits < DSA_MIN_BITS {
                return Err(MalformedKey::InvalidKeyData(
                    "DSA modulus is shorter than 512 bits",
                ));
            }
            if bits > DSA_MAX_BITS {
                return Err(MalformedKey::InvalidKeyData(
                    "DSA modulus is longer than 10000 bits",
                ));
            }
            // Cheap sanity checks that every genuine DSA key satisfies; they catch fields
            // that are swapped or zeroed without needing modular arithmetic.
            if q.is_empty() || g.is_empty() || y.is_empty() {
                return Err(MalformedKey::InvalidKeyData("DSA parameter is zero"));
            }
            if !less_than(q, p) || !less_than(g, p) || !less_than(y, p) {
                return Err(MalformedKey::InvalidKeyData("DSA parameter is not below p"));
            }
        }
        Algo::Ecdsa(curve) => {
            if r.string()? != curve.name() {
                return Err(MalformedKey::InvalidKeyData(
                    "ECDSA curve name does not match the key type",
                ));
            }
            let point = r.string()?;
            if point.len() != curve.uncompressed_point_len() || point.first() != Some(&0x04) {
                return Err(MalformedKey::InvalidKeyData(
                    "ECDSA public point is not an uncompressed point of the curve's size",
                ));
            }
            if !curve.contains(point) {
                return Err(MalformedKey::InvalidKeyData(
                    "ECDSA public point is not on the curve",
                ));
            }
            if !curve.coordinates_in_range(point) {
                return Err(MalformedKey::InvalidKeyData(
                    "ECDSA public point has a coordinate of half the curve's size or less, or not below its order minus one",
                ));
            }
        }
        Algo::Ed25519 => {
            if r.string()?.len() != ED25519_KEY_LEN {
                return Err(MalformedKey::InvalidKeyData(
                    "Ed25519 public key is not 32 bytes",
                ));
            }
        }
    }
    Ok(())
}

/// Certificate fields after the key in the v01 layout (OpenSSH PROTOCOL.certkeys).
fn skip_cert_tail_v01(r: &mut Reader<'_>) -> Result<(), MalformedKey> {
    r.take(8)?; // serial
    r.take(4)?; // certificate type
    r.string()?; // key id
    r.string()?; // valid principals
    r.take(8)?; // valid after
    r.take(8)?; // valid before
    r.string()?; // critical options
    r.string()?; // extensions
    r.string()?; // reserved
    r.string()?; // signature key
    r.string()?; // signature
    Ok(())
}

/// Legacy v00 layout: no serial or extensions, and the nonce comes late.
fn skip_cert_tail_v00(r: &mut Reader<'_>) -> Result<(), MalformedKey> {
    r.take(4)?; // certificate type
    r.string()?; // key id
    r.string()?; // valid principals
    r.take(8)?; // valid after
    r.take(8)?; // valid before
    r.string()?; // critical options
    r.string()?; // nonce
    r.string()?; // reserved
    r.string()?; // signature key
    r.string()?; // signature
    Ok(())
}

/// RFC 4251 wire reader over borrowed bytes. It never allocates, and every length prefix is
/// checked against what is left before slicing, so hostile lengths (0xFFFFFFFF) are safe.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MalformedKey> {
        if n > self.0.len() {
            return Err(MalformedKey::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn string(&mut self) -> Result<&'a [u8], MalformedKey> {
        let len: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| MalformedKey::Truncated)?;
        let len = usize::try_from(u32::from_be_bytes(len)).map_err(|_| MalformedKey::Truncated)?;
        self.take(len)
    }

    /// Returns the magnitude of a non-negative canonical mpint, without its sign byte.
    fn mpint(&mut self) -> Result<&'a [u8], MalformedKey> {
        let bytes = self.string()?;
        match bytes {
            [first, ..] if first & 0x80 != 0 => Err(MalformedKey::InvalidKeyData("negative mpint")),
            [0, second, ..] if second & 0x80 != 0 => Ok(&bytes[1..]),
            [0, ..] => Err(MalformedKey::InvalidKeyData(
                "mpint has a superfluous leading zero byte",
            )),
            _ => Ok(bytes),
        }
    }
}

/// Bit length of a big-endian magnitude without leading zero bytes.
fn bit_len(magnitude: &[u8]) -> usize {
    match magnitude.first() {
        None => 0,
        Some(&first) => (magnitude.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

/// `a < b` for big-endian magnitudes. Canonical mpints carry no leading zero bytes, so the
/// longer one is the larger and equal lengths compare bytewise.
fn less_than(a: &[u8], b: &[u8]) -> bool {
    (a.len(), a) < (b.len(), b)
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    // Only called with the short, fixed plain type names, far below u32::MAX.
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn echo_type(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.chars().take(MAX_ECHOED_TYPE_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pubkeys");

    const SPEC_VECTOR: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGsX0fLhLEJH+Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT+NC4v4af5uO5+tKfA+eFivOM1drMV7Oy7ZAaDe/UfU= mock@example";
    const SPEC_FINGERPRINT: &str = "55:1a:28:cf:23:4c:dc:39:0d:58:79:1d:d5:60:83:26";

    const ALLOW_ED25519: ParseOptions = ParseOptions {
        allow_ed25519: true,
        fingerprint: crate::keygen::Fingerprint::Md5,
    };

    #[test]
    fn fields_split_like_split_ascii_whitespace() {
        for line in [
            "",
            " ",
            "ssh-rsa",
            "ssh-rsa AAAA",
            " \tssh-rsa \x0c AAAA  a comment\twith  tabs ",
            "a\u{a0}b c", // no-break space is not ASCII whitespace: it stays inside a field
            "\x0c\x0c",
            "x  y\t\tz\x0c",
        ] {
            assert_eq!(
                Fields(line).collect::<Vec<_>>(),
                line.split_ascii_whitespace().collect::<Vec<_>>(),
                "{line:?}"
            );
        }
    }

    fn fixture(name: &str) -> String {
        let path = format!("{FIXTURES}/{name}");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    /// `(file, MD5, SHA-1)` recorded from `ssh-keygen -l -E md5` and `-E sha1`, the SHA-1
    /// turned from ssh-keygen's unpadded base64 into colon-hex.
    fn recorded_fingerprints() -> Vec<(String, String, String)> {
        fixture("fingerprints.txt")
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| {
                let mut it = l.split_whitespace();
                let file = it.next().unwrap().to_owned();
                let md5 = it.next().expect("MD5 column").to_owned();
                let sha1 = base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(it.next().expect("SHA-1 column"))
                    .unwrap();
                let sha1 = sha1.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>();
                (file, md5, sha1.join(":"))
            })
            .collect()
    }

    fn fixture_blob(name: &str) -> Vec<u8> {
        let text = fixture(name);
        let b64 = text.split_whitespace().nth(1).expect("base64 field");
        STANDARD.decode(b64).unwrap()
    }

    fn line(key_type: &str, blob: &[u8]) -> String {
        format!("{key_type} {} test@example", STANDARD.encode(blob))
    }

    fn put_u32(out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&v.to_be_bytes());
    }

    fn string(out: &mut Vec<u8>, s: &[u8]) {
        put_u32(out, u32::try_from(s.len()).unwrap());
        out.extend_from_slice(s);
    }

    /// Splits a blob into its leading RFC 4251 strings (mpints are strings on the wire).
    fn split_strings(blob: &[u8], count: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut r = Reader(blob);
        let fields = (0..count).map(|_| r.string().unwrap().to_vec()).collect();
        (fields, r.0.to_vec())
    }

    fn blob_of(fields: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in fields {
            string(&mut out, f);
        }
        out
    }

    fn p256_point() -> Vec<u8> {
        let blob = STANDARD
            .decode(SPEC_VECTOR.split_whitespace().nth(1).unwrap())
            .unwrap();
        split_strings(&blob, 3).0[2].clone()
    }

    /// A v00 certificate around a plain key's fields; OpenSSH can no longer produce these.
    fn legacy_cert(cert_type: &str, key_fields: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        string(&mut out, cert_type.as_bytes());
        for f in key_fields {
            string(&mut out, f);
        }
        put_u32(&mut out, 1); // user certificate
        string(&mut out, b"legacy-id");
        let mut principals = Vec::new();
        string(&mut principals, b"mock");
        string(&mut out, &principals);
        out.extend_from_slice(&0u64.to_be_bytes());
        out.extend_from_slice(&u64::MAX.to_be_bytes());
        string(&mut out, b""); // critical options
        string(&mut out, &[7; 32]); // nonce
        string(&mut out, b""); // reserved
        string(&mut out, &blob_of(&[b"ssh-rsa", &[1, 0, 1], &[0x55; 64]]));
        string(&mut out, &blob_of(&[b"ssh-rsa", &[0xAA; 64]]));
        out
    }

    #[test]
    fn spec_vector() {
        let key = parse_openssh_public_key(SPEC_VECTOR, ParseOptions::default()).unwrap();
        assert_eq!(key.key_type, "ecdsa-sha2-nistp256");
        assert_eq!(key.fingerprint, SPEC_FINGERPRINT);
        assert_eq!(
            key.openssh,
            SPEC_VECTOR.strip_suffix(" mock@example").unwrap()
        );
        assert_eq!(key.blob.len(), 104);
    }

    #[test]
    fn fixtures_match_ssh_keygen() {
        let recorded = recorded_fingerprints();
        assert!(recorded.len() >= 13, "fixture list is incomplete");
        for (file, expected, expected_sha1) in &recorded {
            let text = fixture(file);
            let mut fields = text.split_whitespace();
            let (ty, b64) = (fields.next().unwrap(), fields.next().unwrap());
            let key = parse_openssh_public_key(&text, ALLOW_ED25519)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(&key.fingerprint, expected, "{file}");
            assert_eq!(key.key_type, ty, "{file}");
            assert_eq!(key.openssh, format!("{ty} {b64}"), "{file}");
            assert_eq!(key.blob, STANDARD.decode(b64).unwrap(), "{file}");
            if !ty.contains("-cert-") {
                assert_eq!(
                    key.fingerprint,
                    crate::keygen::Fingerprint::Md5.of(&key.blob),
                    "{file}"
                );
            }

            let sha1 = ParseOptions {
                fingerprint: crate::keygen::Fingerprint::Sha1,
                ..ALLOW_ED25519
            };
            assert_eq!(
                parse_openssh_public_key(&text, sha1).map(|k| k.fingerprint),
                Ok(expected_sha1.clone()),
                "{file}"
            );

            let default = parse_openssh_public_key(&text, ParseOptions::default());
            if ty.starts_with("ssh-ed25519") {
                assert_eq!(default, Err(MalformedKey::Ed25519NotSupported), "{file}");
            } else {
                assert_eq!(default, Ok(key), "{file}");
            }
        }
    }

    #[test]
    fn surrounding_whitespace_and_comments_do_not_matter() {
        let canonical = SPEC_VECTOR.strip_suffix(" mock@example").unwrap();
        let (ty, b64) = canonical.split_once(' ').unwrap();
        let variants = [
            canonical.to_owned(),
            format!("{SPEC_VECTOR}\n"),
            format!("{SPEC_VECTOR}\r\n"),
            format!("  \t{SPEC_VECTOR}\r\n\r\n"),
            format!("{ty}\t{b64}\tcomment with  several words"),
            format!("{ty}   {b64}"),
        ];
        for text in &variants {
            let key = parse_openssh_public_key(text, ParseOptions::default())
                .unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(key.openssh, canonical, "{text:?}");
            assert_eq!(key.fingerprint, SPEC_FINGERPRINT, "{text:?}");
        }
    }

    #[test]
    fn legacy_v00_certificates_are_accepted() {
        for (cert_type, plain, field_count) in [
            ("ssh-rsa-cert-v00@openssh.com", "rsa2048.pub", 2),
            ("ssh-dss-cert-v00@openssh.com", "dsa1024.pub", 4),
        ] {
            let plain_key =
                parse_openssh_public_key(&fixture(plain), ParseOptions::default()).unwrap();
            let (fields, _) = split_strings(&plain_key.blob, 1 + field_count);
            let blob = legacy_cert(cert_type, &fields[1..]);
            let key = parse_openssh_public_key(&line(cert_type, &blob), ParseOptions::default())
                .unwrap_or_else(|e| panic!("{cert_type}: {e}"));
            assert_eq!(key.key_type, cert_type);
            assert_eq!(key.fingerprint, plain_key.fingerprint, "{cert_type}");

            let mut padded = blob.clone();
            padded.push(0);
            assert_eq!(
                parse_openssh_public_key(&line(cert_type, &padded), ParseOptions::default()),
                Err(MalformedKey::TrailingBytes),
                "{cert_type}"
            );
            assert_eq!(
                parse_openssh_public_key(
                    &line(cert_type, &blob[..blob.len() - 1]),
                    ParseOptions::default()
                ),
                Err(MalformedKey::Truncated),
                "{cert_type}"
            );
        }
    }

    #[test]
    fn small_rsa_keys_down_to_512_bits_are_accepted() {
        let mut n512 = vec![0xC5; 64];
        n512[63] = 0x01;
        let blob = blob_of(&[b"ssh-rsa", &[1, 0, 1], &[&[0][..], &n512].concat()]);
        assert!(parse_openssh_public_key(&line("ssh-rsa", &blob), ParseOptions::default()).is_ok());
    }

    #[test]
    fn malformed_inputs_are_rejected() {
        use MalformedKey::*;
        let rsa = fixture("rsa2048.pub");
        let rsa_blob = fixture_blob("rsa2048.pub");
        let rsa_b64 = STANDARD.encode(&rsa_blob);
        let ecdsa_blob = fixture_blob("ecdsa256.pub");
        let ed25519 = fixture("ed25519.pub");
        let ed25519_cert = fixture("ed25519-cert.pub");
        let dsa_blob = fixture_blob("dsa1024.pub");
        let cert_blob = fixture_blob("rsa2048-cert.pub");
        let (rsa_fields, _) = split_strings(&rsa_blob, 3);
        let (dsa_fields, _) = split_strings(&dsa_blob, 5);
        let point = p256_point();
        let off_curve = {
            let mut p = point.clone();
            *p.last_mut().unwrap() ^= 1;
            p
        };
        // (0, y) is on P-256; written with x = p instead of 0 it passes the curve equation
        // mod p, so only the check that coordinates are below p refuses it.
        let y_at_0 = "66485c780e2f83d72433bd5d84a06bb6541c2af31dae871728bf856a174f93f4";
        let y_at_0: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&y_at_0[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let at_0 = [&[4u8][..], &[0; 32], &y_at_0].concat();
        let unreduced = [
            &[4u8][..],
            &[0xff; 4],
            &[0, 0, 0, 1],
            &[0; 12],
            &[0xff; 12],
            &y_at_0,
        ]
        .concat();
        // Regression (key review, twenty-eighth session): (0, y) is a point of P-256, and was
        // imported, but OpenSSH refuses a coordinate of 128 bits or fewer; x = 2^128 passes.
        let with_x = |x: &[u8]| {
            use crypto_bigint::{BoxedUint, NonZero};
            let (p_hex, b_hex) = Curve::P256.prime_and_b();
            let p = NonZero::new(BoxedUint::from_be_hex(p_hex, 256).unwrap()).unwrap();
            let b = BoxedUint::from_be_hex(b_hex, 256).unwrap();
            let x = BoxedUint::from_be_slice(x, 256).unwrap();
            let x3 = x.square_mod(&p).mul_mod(&x, &p);
            let rhs = x3
                .sub_mod(&x.add_mod(&x, &p).add_mod(&x, &p), &p)
                .add_mod(&b, &p);
            // p ≡ 3 (mod 4): a square root is rhs^((p+1)/4).
            let e = p
                .as_ref()
                .wrapping_add(BoxedUint::one_with_precision(256))
                .shr(2);
            let y = crypto_bigint::modular::BoxedMontyForm::new(
                rhs.clone(),
                &crypto_bigint::modular::BoxedMontyParams::new(p.as_ref().to_odd().unwrap()),
            )
            .pow(&e)
            .retrieve();
            (y.square_mod(&p) == rhs)
                .then(|| [&[4u8][..], &x.to_be_bytes(), &y.to_be_bytes()].concat())
        };
        let import = |point: &[u8]| {
            parse_openssh_public_key(
                &line(
                    "ecdsa-sha2-nistp256",
                    &blob_of(&[b"ecdsa-sha2-nistp256", b"nistp256", point]),
                ),
                ParseOptions::default(),
            )
        };
        let small = "ECDSA public point has a coordinate of half the curve's size or less, or not below its order minus one";
        assert_eq!(import(&at_0), Err(InvalidKeyData(small)), "(0, y)");
        // The smallest x of 128 bits and of 129 bits that are on the curve.
        let on_curve = |mut x: [u8; 17]| loop {
            if let Some(point) = with_x(&x) {
                return point;
            }
            x[16] += 1;
        };
        let mut x128 = [0u8; 17];
        x128[1] = 0x80;
        let mut x129 = [0u8; 17];
        x129[0] = 1;
        assert_eq!(
            import(&on_curve(x128)),
            Err(InvalidKeyData(small)),
            "128 bits"
        );
        assert!(import(&on_curve(x129)).is_ok(), "129 bits");
        // Regression (diff review, twenty-eighth session): nor one of n − 1 or more, which
        // is still below p and can be on the curve.
        let order_minus_one = Curve::P256.order_minus_one_bytes();
        let mut x = order_minus_one.clone();
        let big = loop {
            if let Some(point) = with_x(&x) {
                break point;
            }
            x[31] += 1;
        };
        assert!(big[1..33] >= order_minus_one[..]);
        assert_eq!(import(&big), Err(InvalidKeyData(small)), "x >= n - 1");
        let p256 = "ecdsa-sha2-nistp256";
        let rsa_with = |e: &[u8], n: &[u8]| line("ssh-rsa", &blob_of(&[b"ssh-rsa", e, n]));
        let with_trailing = |blob: &[u8]| [blob, &[0, 0, 0, 0][..]].concat();

        let cases: Vec<(&str, String, ParseOptions, MalformedKey)> = vec![
            ("empty", String::new(), ParseOptions::default(), Empty),
            (
                "whitespace only",
                " \t\r\n \n".into(),
                ParseOptions::default(),
                Empty,
            ),
            (
                "doc example value",
                "ABC1234567".into(),
                ParseOptions::default(),
                UnknownType("ABC1234567".into()),
            ),
            (
                "unknown type",
                format!("ssh-foo {rsa_b64}"),
                ParseOptions::default(),
                UnknownType("ssh-foo".into()),
            ),
            (
                "doc's bare algorithm name is not a key type",
                format!("rsa {rsa_b64}"),
                ParseOptions::default(),
                UnknownType("rsa".into()),
            ),
            (
                "security-key types are not documented",
                "sk-ecdsa-sha2-nistp256@openssh.com AAAA".into(),
                ParseOptions::default(),
                UnknownType("sk-ecdsa-sha2-nistp256@openssh.com".into()),
            ),
            (
                "type is case-sensitive",
                format!("SSH-RSA {rsa_b64}"),
                ParseOptions::default(),
                UnknownType("SSH-RSA".into()),
            ),
            (
                "echoed type is capped",
                "x".repeat(1000),
                ParseOptions::default(),
                UnknownType("x".repeat(MAX_ECHOED_TYPE_LEN)),
            ),
            (
                "authorized_keys options prefix",
                format!("no-pty {}", rsa.trim()),
                ParseOptions::default(),
                UnknownType("no-pty".into()),
            ),
            (
                "type without key data",
                "ssh-rsa".into(),
                ParseOptions::default(),
                MissingKeyData,
            ),
            (
                "bad base64",
                "ssh-rsa AAAA!!!!".into(),
                ParseOptions::default(),
                BadBase64,
            ),
            (
                "missing padding",
                SPEC_VECTOR.replace("UfU= ", "UfU "),
                ParseOptions::default(),
                BadBase64,
            ),
            (
                "non-canonical final symbol",
                "ssh-rsa AB==".into(),
                ParseOptions::default(),
                BadBase64,
            ),
            (
                "url-safe alphabet",
                format!("ssh-rsa {}", rsa_b64.replace('+', "-").replace('/', "_")),
                ParseOptions::default(),
                BadBase64,
            ),
            (
                "ssh-rsa line with an ecdsa blob",
                line("ssh-rsa", &ecdsa_blob),
                ParseOptions::default(),
                TypeMismatch {
                    line: "ssh-rsa".into(),
                    blob: "ecdsa-sha2-nistp256".into(),
                },
            ),
            (
                "plain type with a certificate blob",
                line("ssh-rsa", &cert_blob),
                ParseOptions::default(),
                TypeMismatch {
                    line: "ssh-rsa".into(),
                    blob: "ssh-rsa-cert-v01@openssh.com".into(),
                },
            ),
            (
                "truncated base64 of a real key",
                format!("ssh-rsa {}", &rsa_b64[..200]),
                ParseOptions::default(),
                Truncated,
            ),
            (
                "trailing bytes after the last field",
                line("ssh-rsa", &with_trailing(&rsa_blob)),
                ParseOptions::default(),
                TrailingBytes,
            ),
            (
                "trailing bytes after a certificate's signature",
                line("ssh-rsa-cert-v01@openssh.com", &with_trailing(&cert_blob)),
                ParseOptions::default(),
                TrailingBytes,
            ),
            (
                "truncated certificate signature",
                line(
                    "ssh-rsa-cert-v01@openssh.com",
                    &cert_blob[..cert_blob.len() - 1],
                ),
                ParseOptions::default(),
                Truncated,
            ),
            (
                "wrong ecdsa curve",
                line(p256, &blob_of(&[p256.as_bytes(), b"nistp384", &point])),
                ParseOptions::default(),
                InvalidKeyData("ECDSA curve name does not match the key type"),
            ),
            (
                "wrong ecdsa point length",
                line(
                    p256,
                    &blob_of(&[p256.as_bytes(), b"nistp256", &point[..64]]),
                ),
                ParseOptions::default(),
                InvalidKeyData(
                    "ECDSA public point is not an uncompressed point of the curve's size",
                ),
            ),
            (
                "ecdsa point off the curve (one bit of y flipped)",
                line(p256, &blob_of(&[p256.as_bytes(), b"nistp256", &off_curve])),
                ParseOptions::default(),
                InvalidKeyData("ECDSA public point is not on the curve"),
            ),
            (
                "ecdsa coordinate not below the field prime",
                line(p256, &blob_of(&[p256.as_bytes(), b"nistp256", &unreduced])),
                ParseOptions::default(),
                InvalidKeyData("ECDSA public point is not on the curve"),
            ),
            (
                "compressed ecdsa point",
                line(
                    p256,
                    &blob_of(&[p256.as_bytes(), b"nistp256", &point[..33]]),
                ),
                ParseOptions::default(),
                InvalidKeyData(
                    "ECDSA public point is not an uncompressed point of the curve's size",
                ),
            ),
            (
                "two keys on two lines",
                format!("{}\n{SPEC_VECTOR}", rsa.trim()),
                ParseOptions::default(),
                MultipleLines,
            ),
            (
                "two keys separated by a bare CR",
                format!("{}\r{SPEC_VECTOR}", rsa.trim()),
                ParseOptions::default(),
                MultipleLines,
            ),
            (
                "ed25519 when not allowed",
                ed25519.clone(),
                ParseOptions::default(),
                Ed25519NotSupported,
            ),
            (
                "ed25519 certificate when not allowed",
                ed25519_cert,
                ParseOptions::default(),
                Ed25519NotSupported,
            ),
            (
                "ed25519 key of the wrong length",
                line("ssh-ed25519", &blob_of(&[b"ssh-ed25519", &[9; 31]])),
                ALLOW_ED25519,
                InvalidKeyData("Ed25519 public key is not 32 bytes"),
            ),
            (
                "huge declared field length",
                line(
                    "ssh-rsa",
                    &[&blob_of(&[b"ssh-rsa"])[..], &[0xFF; 4], &[1; 8]].concat(),
                ),
                ParseOptions::default(),
                Truncated,
            ),
            (
                "huge declared type length",
                line("ssh-rsa", &[&[0xFF; 4][..], b"ssh-rsa"].concat()),
                ParseOptions::default(),
                Truncated,
            ),
            (
                "rsa modulus below 512 bits",
                rsa_with(&[1, 0, 1], &[0x7F; 63]),
                ParseOptions::default(),
                InvalidKeyData("RSA modulus is shorter than 512 bits"),
            ),
            (
                "rsa modulus above 16384 bits",
                rsa_with(&[1, 0, 1], &[&[1][..], &[0; 2048]].concat()),
                ParseOptions::default(),
                InvalidKeyData("RSA modulus is longer than 16384 bits"),
            ),
            (
                "rsa exponent zero",
                rsa_with(&[], &rsa_fields[2]),
                ParseOptions::default(),
                InvalidKeyData("RSA public exponent is not an odd number of at least 3"),
            ),
            // Audit: e = 1, even e and even n were imported (OpenSSL calls them invalid).
            (
                "rsa exponent one",
                rsa_with(&[1], &rsa_fields[2]),
                ParseOptions::default(),
                InvalidKeyData("RSA public exponent is not an odd number of at least 3"),
            ),
            (
                "rsa exponent even",
                rsa_with(&[1, 0, 0], &rsa_fields[2]),
                ParseOptions::default(),
                InvalidKeyData("RSA public exponent is not an odd number of at least 3"),
            ),
            (
                "rsa exponent not below the modulus",
                rsa_with(&rsa_fields[2], &rsa_fields[2]),
                ParseOptions::default(),
                InvalidKeyData("RSA public exponent is not below the modulus"),
            ),
            (
                "rsa modulus even",
                rsa_with(
                    &[1, 0, 1],
                    &[&rsa_fields[2][..rsa_fields[2].len() - 1], &[0x10]].concat(),
                ),
                ParseOptions::default(),
                InvalidKeyData("RSA modulus is even"),
            ),
            (
                "negative rsa modulus",
                rsa_with(&[1, 0, 1], &rsa_fields[2][1..]),
                ParseOptions::default(),
                InvalidKeyData("negative mpint"),
            ),
            (
                "non-canonical mpint",
                rsa_with(&[0, 1, 0, 1], &rsa_fields[2]),
                ParseOptions::default(),
                InvalidKeyData("mpint has a superfluous leading zero byte"),
            ),
            (
                "dsa with zero public value",
                line(
                    "ssh-dss",
                    &blob_of(&[
                        b"ssh-dss",
                        &dsa_fields[1],
                        &dsa_fields[2],
                        &dsa_fields[3],
                        &[],
                    ]),
                ),
                ParseOptions::default(),
                InvalidKeyData("DSA parameter is zero"),
            ),
            (
                "dsa with q and p swapped",
                line(
                    "ssh-dss",
                    &blob_of(&[
                        b"ssh-dss",
                        &dsa_fields[2],
                        &dsa_fields[1],
                        &dsa_fields[3],
                        &dsa_fields[4],
                    ]),
                ),
                ParseOptions::default(),
                InvalidKeyData("DSA modulus is shorter than 512 bits"),
            ),
            (
                "dsa generator not below p",
                line(
                    "ssh-dss",
                    &blob_of(&[
                        b"ssh-dss",
                        &dsa_fields[1],
                        &dsa_fields[2],
                        &dsa_fields[1],
                        &dsa_fields[4],
                    ]),
                ),
                ParseOptions::default(),
                InvalidKeyData("DSA parameter is not below p"),
            ),
            (
                "garbage blob type is echoed lossily and capped",
                line("ssh-rsa", &blob_of(&[&[0xFF; 200]])),
                ParseOptions::default(),
                TypeMismatch {
                    line: "ssh-rsa".into(),
                    blob: "\u{FFFD}".repeat(MAX_ECHOED_TYPE_LEN),
                },
            ),
            (
                "overlong body",
                format!("ssh-rsa {}", "A".repeat(MAX_TEXT_LEN)),
                ParseOptions::default(),
                TooLong,
            ),
            (
                // Regression (key review, twenty-eighth session): the limit was applied
                // after trimming, so a key padded past it with whitespace was imported.
                "a valid key padded past the limit with whitespace",
                format!("{}{}", rsa.trim(), " ".repeat(MAX_TEXT_LEN)),
                ParseOptions::default(),
                TooLong,
            ),
            (
                "whitespace past the limit before a valid key",
                format!("{}{}", "\n".repeat(MAX_TEXT_LEN), rsa.trim()),
                ParseOptions::default(),
                TooLong,
            ),
        ];

        for (name, text, opts, expected) in cases {
            assert_eq!(
                parse_openssh_public_key(&text, opts),
                Err(expected),
                "case: {name}"
            );
        }

        assert!(parse_openssh_public_key(&ed25519, ALLOW_ED25519).is_ok());
    }

    #[test]
    fn every_truncation_of_a_valid_blob_is_rejected() {
        for (file, _, _) in recorded_fingerprints() {
            let blob = fixture_blob(&file);
            let ty = fixture(&file).split_whitespace().next().unwrap().to_owned();
            // Zero bytes encode to an empty field, which is the "no key data" case instead.
            for len in 1..blob.len() {
                let text = line(&ty, &blob[..len]);
                assert_eq!(
                    parse_openssh_public_key(&text, ALLOW_ED25519),
                    Err(MalformedKey::Truncated),
                    "{file} cut to {len} bytes"
                );
            }
        }
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        for file in ["rsa2048.pub", "dsa1024-cert.pub", "ecdsa521-cert.pub"] {
            let blob = fixture_blob(file);
            let ty = fixture(file).split_whitespace().next().unwrap().to_owned();
            for i in 0..blob.len() {
                for value in [0x00, 0x01, 0x7F, 0x80, 0xFF] {
                    let mut corrupted = blob.clone();
                    corrupted[i] = value;
                    let _ = parse_openssh_public_key(&line(&ty, &corrupted), ALLOW_ED25519);
                }
            }
        }
    }
}
