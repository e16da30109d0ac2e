//! Rendering of success bodies and the error envelope, in JSON or XML: the only place where a
//! response or an [`ApiError`] becomes bytes.
//!
//! Success bodies are any `Serialize` (field order preserved). JSON is written straight from
//! it; XML goes through a `serde_json::Value` and one generic rule: an array under key `K`
//! becomes repeated `<K>` elements, which is how `KeyPairs.KeyPair[]` maps to
//! `<KeyPairs><KeyPair>…</KeyPair></KeyPairs>`. (JSON is what the Tea SDKs and load tests use,
//! so it skips the intermediate tree; XML keeps one mapping rule for every action.)

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;

/// Response format chosen by `Format` / `accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

/// Exactly what the Tea SDK's error parser keys on for XML (it compares the whole string).
pub const XML_CONTENT_TYPE: &str = "text/xml;charset=utf-8";
pub const JSON_CONTENT_TYPE: &str = "application/json;charset=utf-8";

/// A response ready for the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Sent after `body`: bytes shared with a cache (a kept DescribeKeyPairs page), so that
    /// they are not copied into every response. Usually empty.
    pub tail: Bytes,
}

impl Rendered {
    /// The whole body in one buffer.
    pub fn full_body(&self) -> Vec<u8> {
        [&self.body[..], &self.tail[..]].concat()
    }
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => JSON_CONTENT_TYPE,
            Format::Xml => XML_CONTENT_TYPE,
        }
    }
}

/// Renders a success body for `action` (XML root `<{action}Response>`).
///
/// # Panics
/// If `body` does not serialise to JSON (a map with non-string keys): a bug in the action.
pub fn success<T: Serialize + ?Sized>(action: &str, format: Format, body: &T) -> Rendered {
    let bytes = match format {
        Format::Json => {
            let mut out = Vec::with_capacity(1024);
            serde_json::to_writer(&mut out, body).expect("response bodies serialise");
            out
        }
        Format::Xml => {
            let value = serde_json::to_value(body).expect("response bodies serialise");
            let mut out = String::from(XML_PROLOG);
            element(&mut out, &format!("{action}Response"), &value);
            out.into_bytes()
        }
    };
    Rendered {
        status: 200,
        content_type: format.content_type(),
        body: bytes,
        tail: Bytes::new(),
    }
}

/// A success body an action wrote as JSON itself (see [`json_str`]).
pub fn json(body: Vec<u8>) -> Rendered {
    Rendered {
        status: 200,
        content_type: JSON_CONTENT_TYPE,
        body,
        tail: Bytes::new(),
    }
}

/// Appends `s` as a JSON string exactly as serde_json writes it. Strings that need no escape
/// (no control character, `"` or `\\`, the common case for names, ids and fingerprints) are
/// copied as they are; the check has no early exit, so it vectorises.
pub fn json_str(out: &mut Vec<u8>, s: &str) {
    json_str_of(out, &[s]);
}

/// Appends the concatenation of `parts` as one JSON string, without concatenating them first
/// (escaping is per character, so escaping the parts one by one is the same).
fn json_str_of(out: &mut Vec<u8>, parts: &[&str]) {
    out.push(b'"');
    for s in parts {
        let plain = s
            .bytes()
            .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
        if plain {
            out.extend_from_slice(s.as_bytes());
        } else {
            let quoted = serde_json::to_vec(s).expect("a string serialises");
            out.extend_from_slice(&quoted[1..quoted.len() - 1]);
        }
    }
    out.push(b'"');
}

/// The error envelope: `RequestId, HostId, Code, Message, Recommend` (XML root `<Error>`).
/// `Recommend` is the diagnosis link newer gateways send.
pub fn error(err: &ApiError, request_id: &str, host_id: &str, format: Format) -> Rendered {
    let code = err.code();
    let recommend = [
        "https://api.aliyun.com/troubleshoot?q=",
        code,
        "&product=Ecs&requestId=",
        request_id,
    ];
    let fields: [(&str, &[&str]); 5] = [
        ("RequestId", &[request_id]),
        ("HostId", &[host_id]),
        ("Code", &[code]),
        ("Message", &err.message_parts()),
        ("Recommend", &recommend),
    ];
    let len: usize = fields
        .iter()
        .map(|(k, v)| 2 * k.len() + 8 + v.iter().map(|p| p.len()).sum::<usize>())
        .sum();
    // Written field by field into one buffer: errors are the hot path of fault scenarios and
    // fuzzing clients, and a serde_json::Value map per error showed in profiles.
    let bytes = match format {
        Format::Json => {
            let mut out = Vec::with_capacity(len + 16);
            out.push(b'{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(&mut out, k);
                out.push(b':');
                json_str_of(&mut out, v);
            }
            if let Some(detail) = err.detail() {
                out.extend_from_slice(b",\"AccessDeniedDetail\":{");
                for (i, (k, v)) in detail.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json_str(&mut out, k);
                    out.push(b':');
                    json_str(&mut out, v);
                }
                out.push(b'}');
            }
            out.push(b'}');
            out
        }
        Format::Xml => {
            let mut out = String::with_capacity(XML_PROLOG.len() + len + 32);
            out.push_str(XML_PROLOG);
            out.push_str("<Error>");
            for (k, v) in fields {
                out.push('<');
                out.push_str(k);
                out.push('>');
                for part in v {
                    escape_into(&mut out, part);
                }
                out.push_str("</");
                out.push_str(k);
                out.push('>');
            }
            if let Some(detail) = err.detail() {
                out.push_str("<AccessDeniedDetail>");
                for (k, v) in detail {
                    // Keys are checked as XML names when the scenario loads.
                    out.push('<');
                    out.push_str(k);
                    out.push('>');
                    escape_into(&mut out, v);
                    out.push_str("</");
                    out.push_str(k);
                    out.push('>');
                }
                out.push_str("</AccessDeniedDetail>");
            }
            out.push_str("</Error>");
            out.into_bytes()
        }
    };
    Rendered {
        status: err.status(),
        content_type: format.content_type(),
        body: bytes,
        tail: Bytes::new(),
    }
}

const XML_PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

fn element(out: &mut String, name: &str, value: &Value) {
    match value {
        Value::Array(items) => {
            for item in items {
                element(out, name, item);
            }
        }
        Value::Null => {}
        other => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            match other {
                Value::Object(map) => {
                    for (k, v) in map {
                        element(out, k, v);
                    }
                }
                Value::String(s) => escape_into(out, s),
                Value::Number(n) => out.push_str(&n.to_string()),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Array(_) | Value::Null => unreachable!("handled by the outer match"),
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A parser reads a raw CR (or CR LF) as LF: the reference keeps the value as the
            // JSON answer gives it.
            '\r' => out.push_str("&#13;"),
            // Not even a character reference may carry these in XML 1.0, and one raw would make
            // the whole body unreadable. Stored values never hold them (`validate` refuses
            // them); this covers what is echoed as sent, such as an unknown InstanceId.
            c if !xml_char(c) => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
}

/// The `Code` an SDK reads from an error body it was sent: a JSON object's `Code` string, or
/// the text of a `<Code>` element directly under an XML document's root. For a scripted
/// answer (a scenario's `respond`) the mock did not write the body, so its journal entry
/// learns the code this way. A code holding `&` (in XML, an entity reference) or only spaces
/// counts as none: no error code needs either.
pub fn error_code_of(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let text = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    let code = match text.as_bytes().first()? {
        b'{' => match serde_json::from_str::<serde_json::Map<String, Value>>(text)
            .ok()?
            .remove("Code")?
        {
            Value::String(code) => code,
            _ => return None,
        },
        b'<' => xml_root_child_text(text, "Code")?.to_string(),
        _ => return None,
    };
    (!code.trim().is_empty() && !code.contains('&')).then_some(code)
}

/// The text of the first `name` element among the root's children, if it holds text only.
/// A scan of tags, not a parser: enough for the envelopes SDKs read, and total on any input.
fn xml_root_child_text<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let mut depth = 0usize;
    let mut rest = doc;
    while let Some(open) = rest.find('<') {
        rest = &rest[open..];
        // Declarations, processing instructions and comments nest nothing.
        for (start, end) in [
            ("<!--", "-->"),
            ("<![CDATA[", "]]>"),
            ("<?", "?>"),
            ("<!", ">"),
        ] {
            if rest.starts_with(start) {
                rest = &rest[rest.find(end)? + end.len()..];
                break;
            }
        }
        if !rest.starts_with('<') || rest.starts_with("<!") || rest.starts_with("<?") {
            continue;
        }
        let close = tag_end(rest)?;
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        if tag.starts_with('/') {
            depth = depth.checked_sub(1)?;
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag_name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default();
        if depth == 1 && tag_name == name {
            if self_closing {
                return None;
            }
            let text = &rest[..rest.find('<')?];
            let after = &rest[text.len()..];
            return after
                .strip_prefix("</")
                .and_then(|a| a.strip_prefix(name))
                .is_some_and(|a| a.trim_start().starts_with('>'))
                .then_some(text.trim());
        }
        if !self_closing {
            depth += 1;
        }
    }
    None
}

/// Where the tag starting `s` (at its `<`) ends: the first `>` outside quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, b) in s.bytes().enumerate().skip(1) {
        match (quote, b) {
            (None, b'>') => return Some(i),
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            _ => {}
        }
    }
    None
}

/// Whether XML 1.0 can carry `c` at all (its `Char` production; Rust strings hold no
/// surrogates).
pub fn xml_char(c: char) -> bool {
    !matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;
    use serde_json::json;

    #[test]
    fn the_code_of_an_error_envelope_is_read_back_from_either_format() {
        // Arrange: the envelopes the mock writes itself, one with an access-denied detail.
        let errors = [
            ApiError::new(Kind::InvalidKeyPairNameMalformed),
            ApiError::new(Kind::ServiceUnavailable),
            ApiError::new(Kind::InvalidAccessKeyIdNotFound),
        ];
        for err in &errors {
            for format in [Format::Json, Format::Xml] {
                // Act
                let body = error(err, "RID", "ecs.aliyuncs.com", format).body;
                // Assert
                assert_eq!(
                    error_code_of(&body).as_deref(),
                    Some(err.code()),
                    "{format:?}"
                );
            }
        }
    }

    #[test]
    fn only_a_code_directly_under_the_root_counts() {
        let cases: [(&str, Option<&str>); 14] = [
            (r#"{"RequestId":"r","Code":"Throttling.User","Message":"m"}"#, Some("Throttling.User")),
            ("\u{feff} \n{\"Code\": \"X.Y\"}", Some("X.Y")),
            (r#"{"Code":42}"#, None),
            (r#"{"Data":{"Code":"Nested"}}"#, None),
            (r#"{"Code":"  "}"#, None),
            (r#"{"Code":"A","#, None),
            ("<?xml version=\"1.0\"?><!-- <Code>No</Code> --><Error><Data><Code>Nested</Code></Data><Code>Yes.It</Code></Error>", Some("Yes.It")),
            ("<Error a='>' b=\"<Code>\"><Code >Q</Code ></Error>", Some("Q")),
            ("<Error><Code/><Code>Second</Code></Error>", None),
            ("<Error><Code><b>x</b></Code></Error>", None),
            ("<Error><Code>a&amp;b</Code></Error>", None),
            ("<Code>RootItself</Code>", None),
            ("upstream oops", None),
            ("<Error><Code>Unclosed", None),
        ];
        for (body, want) in cases {
            assert_eq!(error_code_of(body.as_bytes()).as_deref(), want, "{body}");
        }
    }

    #[test]
    fn carriage_returns_are_references_and_what_xml_cannot_hold_is_replaced() {
        let body = json!({"Echo": "a\r\nb\tc\u{1}d\u{ffff}e\u{7f}"});
        let xml = String::from_utf8(success("X", Format::Xml, &body).body).unwrap();
        assert!(
            xml.contains("<Echo>a&#13;\nb\tc\u{fffd}d\u{fffd}e\u{7f}</Echo>"),
            "{xml}"
        );
        assert!(xml_char('\t') && xml_char('\u{7f}') && xml_char('\u{10ffff}'));
        assert!(!xml_char('\0') && !xml_char('\u{1f}') && !xml_char('\u{fffe}'));
    }

    #[test]
    fn arrays_become_repeated_elements() {
        let body = json!({"RequestId": "R", "TotalCount": 2,
            "KeyPairs": {"KeyPair": [{"KeyPairName": "a"}, {"KeyPairName": "b&c"}]}});
        let r = success("DescribeKeyPairs", Format::Xml, &body);
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><DescribeKeyPairsResponse><RequestId>R</RequestId>\
             <TotalCount>2</TotalCount><KeyPairs><KeyPair><KeyPairName>a</KeyPairName></KeyPair>\
             <KeyPair><KeyPairName>b&amp;c</KeyPairName></KeyPair></KeyPairs></DescribeKeyPairsResponse>"
        );
        assert_eq!(r.content_type, "text/xml;charset=utf-8");
    }

    #[test]
    fn empty_arrays_keep_their_wrapper() {
        let body = json!({"KeyPairs": {"KeyPair": []}});
        let xml = String::from_utf8(success("X", Format::Xml, &body).body).unwrap();
        assert!(xml.ends_with("<XResponse><KeyPairs></KeyPairs></XResponse>"));
        let json = String::from_utf8(success("X", Format::Json, &body).body).unwrap();
        assert_eq!(json, r#"{"KeyPairs":{"KeyPair":[]}}"#);
    }

    #[test]
    fn error_envelope_has_exactly_the_five_fields_in_order() {
        let e = ApiError::new(Kind::KeyPairAlreadyExist);
        let r = error(&e, "RID", "ecs.aliyuncs.com", Format::Json);
        assert_eq!(r.status, 400);
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"RequestId":"RID","HostId":"ecs.aliyuncs.com","Code":"KeyPair.AlreadyExist","Message":"The key pair already exist.","Recommend":"https://api.aliyun.com/troubleshoot?q=KeyPair.AlreadyExist&product=Ecs&requestId=RID"}"#
        );
        let x = error(&e, "RID", "h", Format::Xml);
        assert_eq!(
            String::from_utf8(x.body).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><RequestId>RID</RequestId><HostId>h</HostId>\
             <Code>KeyPair.AlreadyExist</Code><Message>The key pair already exist.</Message>\
             <Recommend>https://api.aliyun.com/troubleshoot?q=KeyPair.AlreadyExist&amp;product=Ecs&amp;requestId=RID</Recommend></Error>"
        );
    }
}
