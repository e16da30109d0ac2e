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

/// The most [`read_file`] reads of a scenario or fixtures file: more than all loaded
/// scenarios may weigh, and far more than any fixtures a test suite writes. A bound keeps a
/// path such as a log that never stops growing, or a pipe from `yes`, from filling memory.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// The text of a document given on the command line, read through any pipe (`--scenario
/// <(jq …)`, where a FIFO waits for its writer as every reader does) but not from a device or
/// socket, which has no end (`/dev/zero`) or no document; and at most [`MAX_FILE_BYTES`].
///
/// # Errors
/// The path cannot be opened or read, names a device or socket, holds more than
/// [`MAX_FILE_BYTES`], or is not UTF-8. Messages do not name the path: callers do.
pub fn read_file(path: &std::path::Path) -> std::io::Result<String> {
    String::from_utf8(read_bytes(path)?).map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8: {e}"))
    })
}

/// [`read_file`]'s bytes, before they are taken as UTF-8.
///
/// # Errors
/// As [`read_file`], but for UTF-8.
pub fn read_bytes(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    read_at_most(path, MAX_FILE_BYTES)
}

fn read_at_most(path: &std::path::Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    // Looked at before it is opened (opening a device can block or act, a socket cannot be
    // opened at all), and again after, for a path replaced in between.
    readable(&std::fs::metadata(path)?, limit)?;
    let file = std::fs::File::open(path)?;
    readable(&file.metadata()?, limit)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit)); // a pipe, or a file that grew
    }
    Ok(bytes)
}

/// Refuses a device, socket or directory, and a regular file larger than `limit`.
fn readable(meta: &std::fs::Metadata, limit: u64) -> std::io::Result<()> {
    let kind = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_char_device() || kind.is_block_device() || kind.is_socket() {
            return Err(std::io::Error::other(
                "it is a device or socket, not a file or pipe",
            ));
        }
    }
    if kind.is_dir() {
        return Err(std::io::Error::other("it is a directory"));
    }
    if kind.is_file() && meta.len() > limit {
        return Err(too_large(limit));
    }
    Ok(())
}

fn too_large(limit: u64) -> std::io::Error {
    std::io::Error::other(format!(
        "it holds more than {limit} bytes, the most the mock reads"
    ))
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
    fn files_are_read_through_pipes_but_not_from_devices_and_only_up_to_a_bound() {
        let dir = std::env::temp_dir().join(format!("ecs-mock-jsondoc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("doc.json");
        std::fs::write(&file, "{\"a\":1}").unwrap();
        assert_eq!(read_file(&file).unwrap(), "{\"a\":1}");
        assert_eq!(read_at_most(&file, 7).unwrap(), b"{\"a\":1}");
        let long = read_at_most(&file, 6).unwrap_err().to_string();
        assert_eq!(long, "it holds more than 6 bytes, the most the mock reads");

        // `/dev/zero` never ends; the bound alone would read 256 MiB of it first.
        let zero = read_file(std::path::Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert_eq!(zero, "it is a device or socket, not a file or pipe");
        let d = read_file(&dir).unwrap_err().to_string();
        assert_eq!(d, "it is a directory");
        // A socket cannot be opened: looked at first, it is named (diff review).
        let socket = dir.join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let sock = read_file(&socket).unwrap_err();
        assert_eq!(
            sock.kind(),
            std::io::ErrorKind::Other,
            "--watch tells this kind"
        );
        assert_eq!(
            sock.to_string(),
            "it is a device or socket, not a file or pipe"
        );
        std::fs::write(&file, b"\xff").unwrap();
        assert!(read_file(&file)
            .unwrap_err()
            .to_string()
            .starts_with("not UTF-8"));

        // A pipe, as `--scenario <(jq …)` gives, is read to its end.
        let (reader, mut writer) = std::io::pipe().unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&reader);
        let path = format!("/proc/self/fd/{fd}");
        let write = std::thread::spawn(move || std::io::Write::write_all(&mut writer, b"[1]"));
        assert_eq!(read_file(std::path::Path::new(&path)).unwrap(), "[1]");
        write.join().unwrap().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
