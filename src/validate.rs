//! Pure validators shared by every action: key pair names, tags, JSON-array parameters and
//! paging.
//!
//! They return a small [`Invalid`] describing the violation, not an `ApiError`, because the
//! same violation maps to different codes per action (21 tags is `QuotaExceed.Tags` for
//! CreateKeyPair but `NumberExceed.Tags` for TagResources); each action chooses.

use crate::protocol::params::Params;

/// Most tags one request or one resource may carry.
pub const MAX_TAGS: usize = 20;
/// Longest tag key or value, in characters (current docs; older docs said 64).
pub const MAX_TAG_LEN: usize = 128;

/// A validation failure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalid {
    KeyPairName,
    TagKey,
    TagValue,
    /// A `Tag.N.Value`, empty or not, whose `Tag.N.Key` is absent.
    TagWithoutKey,
    DuplicateTagKey,
    /// More than [`MAX_TAGS`] tags in one request.
    TooManyTags,
    /// Not a JSON array of strings (or empty, or containing an empty string).
    JsonArray,
    /// More elements than allowed.
    TooManyElements,
    /// A paging number out of range.
    Paging,
}

/// One `Tag.N.Key` / `Tag.N.Value` pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    /// Optional in fixtures and state files, as `Tag.N.Value` is in a request.
    #[serde(default)]
    pub value: String,
}

/// Checks a KeyPairName: 2–128 characters, a letter first (any script, so Chinese names pass),
/// then letters, digits, `:`, `_`, `.`, `-`; never an `http://`/`https://` prefix. Letters
/// are Unicode's Alphabetic property rather than the reference's suggested `\p{L}` (inferred
/// there), which also takes letter numbers and the vowel signs of Indic scripts.
///
/// `.` and non-Latin letters are allowed for CreateKeyPair too: the ImportKeyPair text allows
/// them and both actions share one backend (API reference §2, inferred).
pub fn key_pair_name(name: &str) -> Result<(), Invalid> {
    let len = name.chars().count();
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(char::is_alphabetic);
    let rest_ok = chars.all(|c| c.is_alphanumeric() || matches!(c, ':' | '_' | '.' | '-'));
    // Compared in place: every CreateKeyPair and ImportKeyPair checks a name, and a lower-case
    // copy was an allocation each.
    let starts = |prefix: &str| {
        name.as_bytes()
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    if (2..=128).contains(&len) && first_ok && rest_ok && !starts("http://") && !starts("https://")
    {
        Ok(())
    } else {
        Err(Invalid::KeyPairName)
    }
}

fn has_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.contains("http://") || lower.contains("https://")
}

/// Whether `s` holds a character the XML answer could not carry (a C0 control other than
/// tab, LF and CR, or U+FFFE/U+FFFF). The API reference is silent on such characters; a
/// stored tag must come back the same in both formats, so it is refused when it is written
/// (inferred; the real service's rule is not documented).
fn has_unrepresentable(s: &str) -> bool {
    !s.chars().all(crate::protocol::response::xml_char)
}

/// Tag key rules: non-empty, ≤128 characters, no `aliyun`/`acs:` prefix (case-insensitive), no URL.
pub fn tag_key(key: &str) -> Result<(), Invalid> {
    let lower = key.to_ascii_lowercase();
    if key.is_empty()
        || key.chars().count() > MAX_TAG_LEN
        || lower.starts_with("aliyun")
        || lower.starts_with("acs:")
        || has_url(key)
        || has_unrepresentable(key)
    {
        Err(Invalid::TagKey)
    } else {
        Ok(())
    }
}

/// Tag value rules: may be empty, ≤128 characters, no `acs:` prefix, no URL.
pub fn tag_value(value: &str) -> Result<(), Invalid> {
    if value.chars().count() > MAX_TAG_LEN
        || value.to_ascii_lowercase().starts_with("acs:")
        || has_url(value)
        || has_unrepresentable(value)
    {
        Err(Invalid::TagValue)
    } else {
        Ok(())
    }
}

/// The 1-based index N of a parameter named `{prefix}.N.{suffix}` (see [`list_index`]).
fn indexed(name: &str, prefix: &str, suffix: &str) -> Option<usize> {
    let n = name.strip_prefix(prefix)?.strip_prefix('.')?;
    list_index(n.strip_suffix(suffix)?.strip_suffix('.')?)
}

/// What [`list_index`] gives for an index no list accepts: above every list's limit.
pub const OUT_OF_RANGE: usize = usize::MAX;

/// The index N of a list parameter (`Tag.N.Key`, `ResourceId.N`, ...) as the SDKs write it:
/// 1-based decimal. `None` when `n` is not decimal digits (the parameter is then not part of
/// the list at all). Zero, and indices of more than six digits, are [`OUT_OF_RANGE`], so the
/// list's "too many" check refuses them instead of the parameter being silently dropped: the
/// reference gives only N = 1..max (what the service does with others is inferred).
pub fn list_index(n: &str) -> Option<usize> {
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match n.parse::<usize>() {
        Ok(i) if i >= 1 && n.len() <= 6 => Some(i),
        _ => Some(OUT_OF_RANGE),
    }
}

/// Collects `Tag.N.Key`/`Tag.N.Value` in index order and checks every tag rule.
///
/// A value, empty or not, without a `Tag.N.Key` is [`Invalid::TagWithoutKey`]; an empty key,
/// with or without a value, is a malformed key (tag keys are non-empty, which beats "empty counts as absent");
/// a key without a value has the empty value.
/// Checks run in the order the service reports them: count, then each tag, then duplicates.
pub fn tags(params: &Params) -> Result<Vec<Tag>, Invalid> {
    // Most requests have no tags: one scan of the names, without slicing every pair.
    if !params.any_name_starts_with("Tag.") {
        return Ok(Vec::new());
    }
    let mut slots: std::collections::BTreeMap<usize, (Option<&str>, Option<&str>)> =
        Default::default();
    for (name, value) in params.pairs() {
        if let Some(n) = indexed(name, "Tag", "Key") {
            slots.entry(n).or_default().0.get_or_insert(value);
        } else if let Some(n) = indexed(name, "Tag", "Value") {
            slots.entry(n).or_default().1.get_or_insert(value);
        }
    }
    if slots.len() > MAX_TAGS || slots.keys().any(|n| *n > MAX_TAGS) {
        return Err(Invalid::TooManyTags);
    }
    let mut out: Vec<Tag> = Vec::with_capacity(slots.len());
    for (key, value) in slots.into_values() {
        // A value without its key is keyless even when empty, as in ListTagResources: tags
        // are the exception to "empty counts as absent" (README). An empty key is a key, and
        // malformed.
        let Some(key) = key else {
            return Err(Invalid::TagWithoutKey);
        };
        let value = value.unwrap_or("");
        tag_key(key)?;
        tag_value(value)?;
        out.push(Tag {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    for (i, t) in out.iter().enumerate() {
        if out[..i].iter().any(|o| o.key == t.key) {
            return Err(Invalid::DuplicateTagKey);
        }
    }
    Ok(out)
}

/// Parses a parameter that carries a JSON array of strings (`KeyPairNames`, `InstanceIds`).
///
/// Rejects non-arrays, non-string elements, empty strings, an empty array and more than `max`
/// elements. Duplicates are kept; callers decide what they mean.
pub fn json_string_array(value: &str, max: usize) -> Result<Vec<String>, Invalid> {
    let parsed: serde_json::Value = serde_json::from_str(value).map_err(|_| Invalid::JsonArray)?;
    let items = parsed.as_array().ok_or(Invalid::JsonArray)?;
    if items.is_empty() {
        return Err(Invalid::JsonArray);
    }
    if items.len() > max {
        return Err(Invalid::TooManyElements);
    }
    items
        .iter()
        .map(|v| match v.as_str() {
            Some(s) if !s.is_empty() => Ok(s.to_string()),
            _ => Err(Invalid::JsonArray),
        })
        .collect()
}

/// Parses an optional positive integer parameter within `1..=max` (default when absent/empty).
pub fn page_number(value: Option<&str>, default: u32, max: u32) -> Result<u32, Invalid> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Invalid::Paging),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::params::decode;

    #[test]
    fn key_pair_names() {
        let ok = ["ab", "kp-probe", "my_key:1", "a.b", "中文名", "K", "x2"];
        let bad = [
            "",
            "a",
            "1abc",
            "-abc",
            "http://x",
            "https://x",
            "a b",
            "a/b",
            "a*b",
            "_ab",
        ];
        for name in ok.iter().filter(|n| n.chars().count() >= 2) {
            assert_eq!(key_pair_name(name), Ok(()), "{name}");
        }
        for name in bad.iter().chain(["K"].iter()) {
            assert_eq!(key_pair_name(name), Err(Invalid::KeyPairName), "{name}");
        }
        assert_eq!(key_pair_name(&format!("a{}", "b".repeat(127))), Ok(()));
        assert_eq!(
            key_pair_name(&format!("a{}", "b".repeat(128))),
            Err(Invalid::KeyPairName)
        );
        assert_eq!(
            key_pair_name(&"中".repeat(128)),
            Ok(()),
            "length counts characters"
        );
    }

    /// Open point (API reference §2 suggests `\p{L}`, inferred): letters are Unicode's
    /// Alphabetic property, so a letter number may come first and Indic vowel signs pass,
    /// while a combining accent (not Alphabetic) does not.
    #[test]
    fn key_pair_name_letters_are_the_alphabetic_property() {
        for name in ["\u{216B}ab", "\u{915}\u{93F}", "ab\u{345}"] {
            assert_eq!(key_pair_name(name), Ok(()), "{name:?}");
        }
        assert_eq!(key_pair_name("e\u{301}x"), Err(Invalid::KeyPairName));
        assert_eq!(
            key_pair_name("\u{E9}x"),
            Ok(()),
            "the precomposed form passes"
        );
    }

    #[test]
    fn tag_rules() {
        for (key, want) in [
            ("env", Ok(())),
            ("", Err(Invalid::TagKey)),
            ("aliyun-x", Err(Invalid::TagKey)),
            ("ALIYUNx", Err(Invalid::TagKey)),
            ("acs:x", Err(Invalid::TagKey)),
            ("see http://x", Err(Invalid::TagKey)),
            ("k 2", Ok(())),
            ("tab\tand\r\nnewline", Ok(())),
            ("nul\0", Err(Invalid::TagKey)),
            ("bell\u{7}", Err(Invalid::TagKey)),
            ("\u{ffff}", Err(Invalid::TagKey)),
        ] {
            assert_eq!(tag_key(key), want, "{key}");
        }
        assert_eq!(tag_key(&"k".repeat(128)), Ok(()));
        assert_eq!(tag_key(&"k".repeat(129)), Err(Invalid::TagKey));
        for (value, want) in [
            ("", Ok(())),
            ("aliyun", Ok(())),
            ("acs:x", Err(Invalid::TagValue)),
            ("https://x", Err(Invalid::TagValue)),
            ("a\r\nb", Ok(())),
            ("\u{1f}", Err(Invalid::TagValue)),
            ("\u{fffe}", Err(Invalid::TagValue)),
        ] {
            assert_eq!(tag_value(value), want, "{value}");
        }
        assert_eq!(tag_value(&"v".repeat(129)), Err(Invalid::TagValue));
    }

    fn tags_of(q: &str) -> Result<Vec<Tag>, Invalid> {
        tags(&decode(q.as_bytes(), 1000).unwrap())
    }

    #[test]
    fn tags_from_params() {
        let t = tags_of("Tag.2.Value=v2&Tag.2.Key=k2&Tag.1.Key=k1&Other=1").unwrap();
        assert_eq!(
            t,
            vec![
                Tag {
                    key: "k1".into(),
                    value: "".into()
                },
                Tag {
                    key: "k2".into(),
                    value: "v2".into()
                }
            ]
        );
        assert_eq!(tags_of("Tag.1.Value=v"), Err(Invalid::TagWithoutKey));
        // An empty key is a malformed key, value or not (audit: TagResources called this
        // InvalidTag.Mismatch and ListTagResources InvalidParameter.TagValue).
        assert_eq!(tags_of("Tag.1.Key=&Tag.1.Value=v"), Err(Invalid::TagKey));
        assert_eq!(tags_of("Tag.1.Key="), Err(Invalid::TagKey));
        // Regression (model-based review, twenty-eighth session): an empty value without its
        // key was a malformed key here and ignored by ListTagResources; it is keyless, like a
        // value with text.
        assert_eq!(tags_of("Tag.1.Value="), Err(Invalid::TagWithoutKey));
        assert_eq!(
            tags_of("Tag.1.Key=a&Tag.2.Value="),
            Err(Invalid::TagWithoutKey)
        );
        assert_eq!(
            tags_of("Tag.1.Key=a&Tag.2.Key=a"),
            Err(Invalid::DuplicateTagKey)
        );
        assert_eq!(tags_of("Tag.21.Key=a"), Err(Invalid::TooManyTags));
        let twenty: String = (1..=20).map(|i| format!("Tag.{i}.Key=k{i}&")).collect();
        assert_eq!(tags_of(&twenty).unwrap().len(), 20);
        let many: String = (1..=21).map(|i| format!("Tag.{i}.Key=k{i}&")).collect();
        assert_eq!(tags_of(&many), Err(Invalid::TooManyTags));
        // Not a list index: not a tag. A decimal index outside 1..=20 is refused, not dropped.
        assert_eq!(tags_of("Tag.x.Key=a&Tag.-1.Key=b").unwrap(), vec![]);
        for out_of_range in [
            "Tag.0.Key=b",
            "Tag.1000000.Value=v",
            "Tag.99999999999999999999.Key=k",
        ] {
            assert_eq!(
                tags_of(out_of_range),
                Err(Invalid::TooManyTags),
                "{out_of_range}"
            );
        }
    }

    #[test]
    fn json_arrays() {
        assert_eq!(
            json_string_array(r#"["a", "b"]"#, 100).unwrap(),
            vec!["a", "b"]
        );
        for bad in [
            "",
            "a",
            "[",
            "[]",
            "[1]",
            r#"[""]"#,
            r#"{"a":1}"#,
            r#"["a",null]"#,
        ] {
            assert_eq!(
                json_string_array(bad, 100),
                Err(Invalid::JsonArray),
                "{bad}"
            );
        }
        assert_eq!(
            json_string_array(r#"["a","b","c"]"#, 2),
            Err(Invalid::TooManyElements)
        );
    }

    #[test]
    fn paging() {
        assert_eq!(page_number(None, 10, 50), Ok(10));
        assert_eq!(page_number(Some(""), 10, 50), Ok(10));
        assert_eq!(page_number(Some("50"), 10, 50), Ok(50));
        for bad in ["0", "51", "-1", "x", "1.5"] {
            assert_eq!(
                page_number(Some(bad), 10, 50),
                Err(Invalid::Paging),
                "{bad}"
            );
        }
    }
}
