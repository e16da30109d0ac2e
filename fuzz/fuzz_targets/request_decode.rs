//! Request decoding (`ApiRequest::new`: query and form body, Content-Type, where the action
//! and version are read from) and the response format (`choose_format`: `Format`, then the
//! `Accept` header's weights, then the signature kind), each against a simple reference
//! written here.
//!
//! Three kinds of input, picked by the first byte (0, 1, 2 modulo 3): an `Accept` value built
//! from media ranges whose weights the reference knows (in thousandths: no float parse to
//! share a bug with); an `Accept` value of any text, checked by invariants (order of the
//! ranges, a range naming neither format, ASCII case, a repeat change nothing); and a whole
//! request (see [`Request`]), whose parameters, errors, action, version, format and claimed
//! AccessKeyId are compared with the reference's.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use ecs_mock::protocol::params::{DecodeError, Params};
use ecs_mock::protocol::request::{choose_format, ApiRequest};
use ecs_mock::protocol::response::Format;
use libfuzzer_sys::fuzz_target;

/// One media range of a built `Accept` value.
#[derive(Debug, Arbitrary)]
struct Range {
    media: Media,
    params: Vec<Param>,
    /// Spaces around `;`, `=` and `,` (optional whitespace in RFC 9110).
    spaced: bool,
}

#[derive(Debug, Arbitrary)]
enum Media {
    Known(u8),
    /// Any text without the separators.
    Other(String),
}

const MEDIA: &[&str] = &[
    "application/json",
    "application/xml",
    "text/xml",
    "*/*",
    "text/html",
    "application/*",
    "Application/JSON",
    "TEXT/XML",
    "application/problem+json",
    "application/xhtml+xml",
    "application/json+xml",
    "text/plain",
];

#[derive(Debug, Arbitrary)]
enum Param {
    /// `q` in thousandths (taken modulo 1001), written in one of the RFC's spellings.
    Q {
        upper: bool,
        thousandths: u16,
        style: u8,
    },
    /// A `q` whose value is no number: weight 1.
    Junk {
        upper: bool,
        value: String,
    },
    Other {
        name: String,
        value: String,
    },
}

/// A request as written in a seed: the first byte is the most parameters it may carry, then
/// `GET` or `POST`, a space and the raw query on the first line, then `Name: value` header
/// lines, an empty line and the body (as an HTTP/1.1 request is laid out, so that the SDK
/// captures make seeds).
#[derive(Debug)]
struct Request<'a> {
    max_params: usize,
    post: bool,
    query: &'a str,
    /// Values without the whitespace around them, as hyper hands them over.
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
}

impl<'a> Request<'a> {
    fn parse(data: &'a [u8]) -> Option<Self> {
        let (&max_params, rest) = data.split_first()?;
        let end = |b: &[u8]| b.iter().position(|c| *c == b'\n').unwrap_or(b.len());
        let line = &rest[..end(rest)];
        let (post, query) = if let Some(q) = line.strip_prefix(b"POST ") {
            (true, q)
        } else {
            (false, line.strip_prefix(b"GET ").unwrap_or(line))
        };
        let query = std::str::from_utf8(query).ok()?;
        let mut rest = rest.get(line.len() + 1..).unwrap_or(&[]);
        let mut headers = Vec::new();
        loop {
            let line = &rest[..end(rest)];
            rest = rest.get(line.len() + 1..).unwrap_or(&[]);
            if line.is_empty() {
                break;
            }
            // Hyper drops no header, but the server keeps only UTF-8 values.
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            headers.push((name, value.trim_matches([' ', '\t'])));
        }
        Some(Self {
            max_params: usize::from(max_params),
            post,
            query,
            headers,
            body: rest,
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    match kind % 3 {
        0 => {
            let ranges = Vec::<Range>::arbitrary_take_rest(arbitrary::Unstructured::new(rest));
            if let Ok(ranges) = ranges {
                ranges_against_reference(&ranges);
            }
        }
        1 => {
            if let Ok(accept) = std::str::from_utf8(rest) {
                raw_accept_invariants(accept);
            }
        }
        _ => {
            if let Some(request) = Request::parse(rest) {
                request_against_reference(&request);
            }
        }
    }
});

/// What `Accept` alone chose: `choose_format` falls back on the signature kind only when no
/// range decided, so asking for both kinds tells a choice from none.
fn accepted(accept: &str) -> Option<Format> {
    match (
        choose_format(None, Some(accept), false),
        choose_format(None, Some(accept), true),
    ) {
        (Format::Xml, Format::Json) => None,
        (a, b) => {
            assert_eq!(a, b, "{accept:?}");
            Some(a)
        }
    }
}

/// JSON or XML by the range's media type, or neither.
fn names(media: &str) -> Option<Format> {
    let lower = media.to_ascii_lowercase();
    if lower.contains("json") {
        Some(Format::Json)
    } else if lower.contains("xml") {
        Some(Format::Xml)
    } else {
        None
    }
}

/// The reference choice from weights in thousandths: the heavier of the best JSON and best
/// XML range, JSON on a tie, a weight of 0 refusing (and, when it is the only one named,
/// choosing the other).
fn choose(weights: impl IntoIterator<Item = (Format, u16)>) -> Option<Format> {
    let (mut json, mut xml) = (None::<u16>, None::<u16>);
    for (format, w) in weights {
        let slot = match format {
            Format::Json => &mut json,
            Format::Xml => &mut xml,
        };
        *slot = Some(slot.map_or(w, |earlier| earlier.max(w)));
    }
    match (json.filter(|w| *w > 0), xml.filter(|w| *w > 0)) {
        (Some(j), Some(x)) if x > j => Some(Format::Xml),
        (Some(_), _) => Some(Format::Json),
        (None, Some(_)) => Some(Format::Xml),
        // Only one named, and refused: the other.
        (None, None) => match (json, xml) {
            (Some(_), None) => Some(Format::Xml),
            (None, Some(_)) => Some(Format::Json),
            _ => None,
        },
    }
}

fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ',' | ';' | '='))
        .collect()
}

fn ranges_against_reference(ranges: &[Range]) {
    if ranges.len() > 16 {
        return;
    }
    let mut rendered = Vec::new();
    let mut weights = Vec::new();
    for range in ranges {
        let media = match &range.media {
            Media::Known(i) => MEDIA[*i as usize % MEDIA.len()].to_string(),
            Media::Other(s) => clean(s),
        };
        let (semi, eq) = if range.spaced {
            (" ; ", " = ")
        } else {
            (";", "=")
        };
        let mut text = media.clone();
        let mut weight = None;
        for p in range.params.iter().take(4) {
            let (name, value, w) = match p {
                Param::Q {
                    upper,
                    thousandths,
                    style,
                } => {
                    let t = thousandths % 1001;
                    (q_name(*upper), qvalue(t, *style), Some(t))
                }
                Param::Junk { upper, value } => {
                    // No digit: `f32` reads none of it (nor `inf`/`nan`, weight 1 either way).
                    let v: String = clean(value)
                        .chars()
                        .filter(|c| !c.is_ascii_digit() && !c.is_whitespace())
                        .collect();
                    (q_name(*upper), format!("x{v}"), Some(1000))
                }
                Param::Other { name, value } => {
                    let name = clean(name);
                    if name.trim().eq_ignore_ascii_case("q") {
                        continue;
                    }
                    (name, clean(value), None)
                }
            };
            // The first `q` counts; later ones are parameters like any other.
            if weight.is_none() {
                weight = w;
            }
            text.push_str(&format!("{semi}{name}{eq}{value}"));
        }
        if let Some(format) = names(&media) {
            weights.push((format, weight.unwrap_or(1000)));
        }
        rendered.push(text);
    }
    let sep = if ranges.first().is_some_and(|r| r.spaced) {
        " , "
    } else {
        ","
    };
    let accept = rendered.join(sep);
    assert_eq!(accepted(&accept), choose(weights), "Accept: {accept}");
}

fn q_name(upper: bool) -> String {
    if upper { "Q" } else { "q" }.to_string()
}

/// `t` thousandths as an RFC 9110 qvalue, with or without the trailing zeros it allows.
fn qvalue(t: u16, style: u8) -> String {
    let full = if t == 1000 {
        "1.000".to_string()
    } else {
        format!("0.{t:03}")
    };
    match style % 3 {
        0 => full,
        1 if t == 1000 => "1".to_string(),
        1 if t == 0 => "0".to_string(),
        _ => {
            let trimmed = full.trim_end_matches('0');
            trimmed.strip_suffix('.').unwrap_or(trimmed).to_string()
        }
    }
}

fn raw_accept_invariants(accept: &str) {
    if accept.len() > 4096 {
        return;
    }
    let got = accepted(accept);
    // The `Format` parameter decides first, in any case; another value is not one.
    for (param, format) in [
        ("json", Format::Json),
        ("XML", Format::Xml),
        ("Json", Format::Json),
    ] {
        assert_eq!(choose_format(Some(param), Some(accept), false), format);
    }
    assert_eq!(
        choose_format(Some("yaml"), Some(accept), false),
        choose_format(None, Some(accept), false)
    );
    let ranges: Vec<&str> = accept.split(',').collect();
    let reversed: Vec<&str> = ranges.iter().rev().copied().collect();
    assert_eq!(accepted(&reversed.join(",")), got, "reversed {accept:?}");
    assert_eq!(accepted(&format!("{accept},{accept}")), got, "doubled");
    assert_eq!(accepted(&format!("{accept},*/*;q=0.9,text/html")), got);
    assert_eq!(accepted(&accept.to_ascii_uppercase()), got, "upper case");
    assert_eq!(accepted(&accept.to_ascii_lowercase()), got, "lower case");
    // A range without parameters: its media type alone decides.
    for range in &ranges {
        if !range.contains(';') {
            assert_eq!(accepted(range), names(range), "{range:?}");
        }
    }
    if ranges.len() == 1 && !accept.contains(';') {
        assert_eq!(got, names(accept));
    }
}

/// The reference decoder: pairs split at `&` (empty ones skipped), the name at the first `=`,
/// `+` a space, `%XX` a byte; every name and value UTF-8. Errors in input order, the UTF-8
/// check last (as the real one reports them).
fn decode(input: &[u8], max: usize) -> Result<Vec<(String, String)>, DecodeError> {
    let mut raw: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut at = 0;
    for segment in input.split(|b| *b == b'&') {
        let start = at;
        at += segment.len() + 1;
        if segment.is_empty() {
            continue;
        }
        if raw.len() == max {
            return Err(DecodeError::TooMany(max));
        }
        let eq = segment.iter().position(|b| *b == b'=');
        let (name, value) = match eq {
            Some(i) => (&segment[..i], &segment[i + 1..]),
            None => (segment, &segment[segment.len()..]),
        };
        let value_at = start + eq.map_or(segment.len(), |i| i + 1);
        raw.push((component(name, start)?, component(value, value_at)?));
    }
    raw.into_iter()
        .map(|(n, v)| Ok((String::from_utf8(n).ok(), String::from_utf8(v).ok())))
        .map(|r: Result<_, DecodeError>| match r? {
            (Some(n), Some(v)) => Ok((n, v)),
            _ => Err(DecodeError::NotUtf8),
        })
        .collect()
}

fn component(bytes: &[u8], offset: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or(DecodeError::BadPercent(offset + i))?;
                out.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

fn request_against_reference(r: &Request) {
    if r.query.len() + r.body.len() > 8192 || r.headers.len() > 16 {
        return;
    }
    let max = r.max_params;
    let headers = &r.headers;
    let method = if r.post { "POST" } else { "GET" };
    let got = ApiRequest::new(
        method,
        "/",
        Some(r.query),
        Params::from_pairs(headers.iter().copied()),
        Bytes::copy_from_slice(r.body),
        max,
    );
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };

    // Parameters: the query's, then a POSTed form body's.
    let expected = decode(r.query.as_bytes(), max)
        .map_err(|e| error(e, max, "the query string"))
        .and_then(|query| {
            let is_form = headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && is_form_type(v));
            let mut all = query.clone();
            if is_form && r.post && !r.body.is_empty() {
                let form = decode(r.body, max - query.len())
                    .map_err(|e| error(e, max, "the form body"))?;
                all.extend(form);
            }
            Ok((query, all))
        });
    let req = match (got, expected) {
        (Err(e), Err((code, part))) => {
            assert_eq!(e.code(), code, "{}", e.message());
            assert!(e.message().contains(&part), "{} lacks {part}", e.message());
            return;
        }
        (Ok(req), Ok((query, all))) => {
            let pairs = |it: &mut dyn Iterator<Item = (&str, &str)>| -> Vec<(String, String)> {
                it.map(|(k, v)| (k.to_string(), v.to_string())).collect()
            };
            assert_eq!(pairs(&mut req.params.pairs()), all, "parameters");
            assert_eq!(pairs(&mut req.query()), query, "query");
            assert_eq!((&*req.method, &*req.path), (method, "/"));
            req
        }
        (got, expected) => panic!("got {got:?}, expected {expected:?}"),
    };

    // Signature kind, and where the system values come from.
    let param = |name: &str| req.params.pairs().find(|(k, _)| *k == name).map(|(_, v)| v);
    // Only an ACS3 scheme makes a V3 signature; a `Basic` beside a V1 one is not.
    let v3 = header("authorization").is_some_and(|a| {
        a.trim_start_matches([' ', '\t'])
            .to_ascii_uppercase()
            .starts_with("ACS3-")
    });
    let v1 = !v3 && param("Signature").is_some();
    let system = |p: &str, h: &str| {
        let (from_param, from_header) = (non_empty(param(p)), non_empty(header(h)));
        if v3 {
            // A V3 signature covers the query too: the header first, then the parameter.
            from_header.or(from_param)
        } else if v1 {
            from_param
        } else {
            from_param.or(from_header)
        }
    };
    assert_eq!(req.is_v3(), v3);
    assert_eq!(req.action(), system("Action", "x-acs-action"));
    assert_eq!(req.version(), system("Version", "x-acs-version"));
    let v3_style = v3
        || !v1
            && non_empty(param("Action")).is_none()
            && non_empty(header("x-acs-action")).is_some();
    let format = match param("Format") {
        Some(f) if f.eq_ignore_ascii_case("json") => Format::Json,
        Some(f) if f.eq_ignore_ascii_case("xml") => Format::Xml,
        // Every `Accept` line, as one list.
        _ => match accepted(
            &headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("accept"))
                .map(|(_, v)| *v)
                .collect::<Vec<_>>()
                .join(","),
        ) {
            Some(f) => f,
            None if v3_style => Format::Json,
            None => Format::Xml,
        },
    };
    assert_eq!(req.format(), format);

    // The AccessKeyId claimed is the one the signature parser reads.
    match header("authorization").filter(|_| v3) {
        Some(auth) => {
            if let Ok(parsed) = ecs_mock::signature::parse_v3_authorization(auth) {
                assert_eq!(req.claimed_access_key_id(), Some(&*parsed.access_key_id));
            }
        }
        None => assert_eq!(req.claimed_access_key_id(), non_empty(param("AccessKeyId"))),
    }
}

/// Whether a Content-Type names the form type: the media type before any `;` parameters
/// (optional whitespace around it), in any case.
fn is_form_type(value: &str) -> bool {
    let media = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim_matches([' ', '\t']);
    media.eq_ignore_ascii_case(FORM)
}

const FORM: &str = "application/x-www-form-urlencoded";

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.filter(|v| !v.is_empty())
}

fn error(e: DecodeError, max: usize, part: &str) -> (&'static str, String) {
    match e {
        DecodeError::TooMany(_) => ("InvalidParameter.TooMany", max.to_string()),
        _ => ("InvalidParameter.Encoding", part.to_string()),
    }
}
