//! Checks a state document (`--state-file`, `PUT /__mock/state`) before it replaces the state.
//!
//! The document is the user's to edit, and everything in it is later served as is: a public
//! key that no SDK can parse, a key pair in a region no request can name, or two key pairs
//! sharing a KeyPairId would reach clients as if the API had made them. So each part is held
//! to the rules the API itself applies when it creates that part (the same validators and the
//! same key parser), and a refusal names where in the document the fault is.

use std::collections::BTreeSet;

use crate::fixtures::{is_resource_group_id, INSTANCE_STATUSES};
use crate::keygen::Fingerprint;
use crate::store::{
    AccountDoc, KeyPair, OsType, StateDoc, KEY_PAIR_QUOTA, MAX_ACCESS_KEY_ID_LEN, MAX_ACCOUNTS,
    MAX_COUNTED_TENANTS, STATE_VERSION,
};
use crate::{ids, regions, sshkey, validate};

/// The largest counter (RequestId ordinal, next sequence, generation) a document may hold:
/// 2^62, more than any run could count (at a million requests a second, 146,000 years), and
/// far enough below u64::MAX that a server started from an accepted document never steps a
/// counter past this check or wraps it. At u64::MAX − 1 the next request would do both: its
/// own export would then be a document it refuses.
pub const COUNTER_MAX: u64 = 1 << 62;

const BEYOND_COUNTING: &str = "more than any run could count";

/// The latest creation time a document may hold: 9999-12-31T23:59:59Z. `CreationTime` is
/// `yyyy-MM-ddTHH:mmZ`, which has no form for a later year; a server clock never reads one.
pub const CREATION_TIME_MAX: u64 = 253_402_300_799;

/// Whether `doc` may replace the state of a server running with `seed` and `fingerprint`.
///
/// # Errors
/// The first fault found, as `where: what`, e.g.
/// `accounts["t"].regions["cn-hangzhou"].key_pairs["k"].public_key: does not parse (…)`.
pub fn check(doc: &StateDoc, seed: u64, fingerprint: Fingerprint) -> Result<(), String> {
    check_doc(doc, seed, fingerprint).map_err(|m| cut(&m))
}

/// The longest refusal printed: a value quoted whole could be megabytes of one line.
const MAX_MESSAGE: usize = 2048;

fn cut(message: &str) -> String {
    if message.len() <= MAX_MESSAGE {
        return message.to_string();
    }
    format!(
        "{}… ({} bytes in all)",
        crate::prefix_within(message, MAX_MESSAGE),
        message.len()
    )
}

/// A map key of the document as a refusal names it: quoted, and cut after 64 characters so
/// that the part at fault stays readable.
fn shown(key: &str) -> String {
    const LONGEST: usize = 64;
    match key.char_indices().nth(LONGEST) {
        None => format!("{key:?}"),
        Some((end, _)) => format!("{:?}…", &key[..end]),
    }
}

fn check_doc(doc: &StateDoc, seed: u64, fingerprint: Fingerprint) -> Result<(), String> {
    if doc.version != STATE_VERSION {
        return Err(format!(
            "state version {} is not supported (expected {STATE_VERSION})",
            doc.version
        ));
    }
    if doc.seed != seed {
        return Err(format!(
            "state was saved with seed {} but the server runs with seed {seed}",
            doc.seed
        ));
    }
    if doc.accounts.len() > MAX_ACCOUNTS {
        return Err(format!(
            "accounts: {} accounts is more than the {MAX_ACCOUNTS} the mock holds",
            doc.accounts.len()
        ));
    }
    // The store keeps this many tenants' counters apart, and past them one more, shared under
    // the empty AccessKeyId, which the cap does not count.
    let own_counters =
        doc.request_ordinals.len() - usize::from(doc.request_ordinals.contains_key(""));
    if own_counters > MAX_COUNTED_TENANTS {
        return Err(format!(
            "request_ordinals: {own_counters} tenants with their own counter is more than the {MAX_COUNTED_TENANTS} the mock counts apart"
        ));
    }
    for (tenant, n) in &doc.request_ordinals {
        let at = format!("request_ordinals[{}]", shown(tenant));
        check_access_key_id_len(&at, tenant)?;
        if *n > COUNTER_MAX {
            return Err(format!("{at}: {n}; {BEYOND_COUNTING}"));
        }
    }
    for (tenant, account) in &doc.accounts {
        let at = format!("accounts[{}]", shown(tenant));
        if tenant.is_empty() {
            return Err(format!("{at}: the AccessKeyId must not be empty"));
        }
        check_access_key_id_len(&at, tenant)?;
        check_account(&at, seed, fingerprint, tenant, account)?;
    }
    Ok(())
}

/// A longer AccessKeyId is refused before any request reaches its state (see
/// [`crate::store::Store::admits`]): whatever the document holds under it is dead weight.
fn check_access_key_id_len(at: &str, tenant: &str) -> Result<(), String> {
    if tenant.len() > MAX_ACCESS_KEY_ID_LEN {
        return Err(format!(
            "{at}: the AccessKeyId is {} bytes, longer than the {MAX_ACCESS_KEY_ID_LEN} a request may carry",
            tenant.len()
        ));
    }
    Ok(())
}

fn check_account(
    at: &str,
    seed: u64,
    fingerprint: Fingerprint,
    tenant: &str,
    account: &AccountDoc,
) -> Result<(), String> {
    for rg in &account.resource_groups {
        if !is_resource_group_id(rg) {
            return Err(format!(
                "{at}.resource_groups: {rg:?} is not a resource group id (`rg-` then letters and digits)"
            ));
        }
    }
    let derived = ids::default_resource_group_id(seed, tenant);
    if account.default_resource_group != derived {
        return Err(format!(
            "{at}.default_resource_group: {:?} is not the one the mock gives this AccessKeyId under this seed ({derived:?})",
            account.default_resource_group
        ));
    }
    if !account
        .resource_groups
        .contains(&account.default_resource_group)
    {
        return Err(format!(
            "{at}.default_resource_group: {:?} is not among the account's resource_groups",
            account.default_resource_group
        ));
    }
    if account.next_sequence > COUNTER_MAX {
        return Err(format!(
            "{at}.next_sequence: {}; {BEYOND_COUNTING}",
            account.next_sequence
        ));
    }
    let mut sequences = BTreeSet::new();
    for (region, r) in &account.regions {
        let at = format!("{at}.regions[{}]", shown(region));
        if regions::find(region).is_none() {
            return Err(format!("{at}: unknown region (no request could reach it)"));
        }
        if r.key_pairs.len() > KEY_PAIR_QUOTA {
            return Err(format!(
                "{at}.key_pairs: {} key pairs is more than the {KEY_PAIR_QUOTA} a region holds",
                r.key_pairs.len()
            ));
        }
        if let Some((name, _)) = r.generations.iter().find(|(_, n)| **n == 0) {
            return Err(format!(
                "{at}.generations[{}]: 0; a name listed here was created at least once",
                shown(name)
            ));
        }
        if let Some((name, n)) = r.generations.iter().find(|(_, n)| **n > COUNTER_MAX) {
            return Err(format!(
                "{at}.generations[{}]: {n}; {BEYOND_COUNTING}",
                shown(name)
            ));
        }
        if let Some(name) = r
            .generations
            .keys()
            .find(|n| validate::key_pair_name(n).is_err())
        {
            return Err(format!(
                "{at}.generations[{}]: not a KeyPairName any request could have created",
                shown(name)
            ));
        }
        for (name, kp) in &r.key_pairs {
            let at = format!("{at}.key_pairs[{}]", shown(name));
            check_key_pair(&at, name, kp, account, fingerprint)?;
            // The id the API gave this key pair: the n-th creation of a name listed n times
            // (once when not listed). Any other id could be the one a later creation derives,
            // and the service would then hold two key pairs with one id; derived ids are
            // unique as their inputs are (a name is unique in its region).
            let generation = r.generations.get(name).map_or(0, |n| n - 1);
            let derived = ids::key_pair_id(seed, tenant, region, name, generation);
            if kp.id != derived {
                return Err(format!(
                    "{at}.id: {:?} is not the KeyPairId the mock derives for this key pair ({derived:?}, from the seed, tenant, region, name and generation {generation})",
                    kp.id
                ));
            }
            if kp.sequence >= account.next_sequence {
                return Err(format!(
                    "{at}.sequence: {} is not below the account's next_sequence {}",
                    kp.sequence, account.next_sequence
                ));
            }
            if !sequences.insert(kp.sequence) {
                return Err(format!(
                    "{at}.sequence: {} is the sequence of another key pair of the account too",
                    kp.sequence
                ));
            }
        }
    }
    for (id, inst) in &account.instances {
        let at = format!("{at}.instances[{}]", shown(id));
        if inst.id != *id {
            return Err(format!(
                "{at}: the instance filed here has id {:?}",
                inst.id
            ));
        }
        if id.is_empty() || id.chars().any(char::is_whitespace) {
            return Err(format!(
                "{at}: not an instance id (non-empty, no whitespace)"
            ));
        }
        if regions::find(&inst.region_id).is_none() {
            return Err(format!(
                "{at}.region_id: unknown region {:?}",
                inst.region_id
            ));
        }
        if !INSTANCE_STATUSES.contains(&inst.status.as_str()) {
            return Err(format!(
                "{at}.status: unknown status {:?}, expected one of {}",
                inst.status,
                INSTANCE_STATUSES.join(", ")
            ));
        }
        if let Some(name) = &inst.key_pair_name {
            if inst.os_type == OsType::Windows {
                return Err(format!(
                    "{at}.key_pair_name: a Windows instance holds no key pair"
                ));
            }
            let exists = account
                .regions
                .get(&inst.region_id)
                .is_some_and(|r| r.key_pairs.contains_key(name));
            if !exists {
                return Err(format!(
                    "{at}.key_pair_name: no key pair {name:?} in region {:?}",
                    inst.region_id
                ));
            }
        }
    }
    Ok(())
}

fn check_key_pair(
    at: &str,
    name: &str,
    kp: &KeyPair,
    account: &AccountDoc,
    fingerprint: Fingerprint,
) -> Result<(), String> {
    if kp.name != name {
        return Err(format!(
            "{at}: the key pair filed here is named {:?}",
            kp.name
        ));
    }
    validate::key_pair_name(name)
        .map_err(|_| format!("{at}: {} is not a valid KeyPairName", shown(name)))?;
    let id_ok = kp.id.strip_prefix("ssh-").is_some_and(|rest| {
        rest.len() == 20
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    if !id_ok {
        return Err(format!(
            "{at}.id: {:?} is not a KeyPairId (`ssh-` then 20 lower-case letters and digits)",
            kp.id
        ));
    }
    // Every type the mock ever stored, ed25519 included (imported under --allow-ed25519).
    let parse = |fingerprint| {
        sshkey::parse_openssh_public_key(
            &kp.public_key,
            sshkey::ParseOptions {
                allow_ed25519: true,
                fingerprint,
            },
        )
    };
    let parsed = parse(fingerprint)
        .map_err(|e| format!("{at}.public_key: not an OpenSSH public key ({e})"))?;
    if parsed.openssh != kp.public_key {
        return Err(format!(
            "{at}.public_key: not in the stored form `type base64` (no comment, single spaces)"
        ));
    }
    if parsed.fingerprint != kp.fingerprint {
        // A document is saved with the server's digest: say so when it holds the other one.
        let saved_under = <Fingerprint as clap::ValueEnum>::value_variants()
            .iter()
            .copied()
            .find(|&other| {
                other != fingerprint
                    && parse(other).is_ok_and(|key| key.fingerprint == kp.fingerprint)
            });
        return Err(match saved_under {
            Some(other) => format!(
                "{at}.fingerprint: {:?} is the public key's {} fingerprint: the state was saved under --fingerprint {} but the server runs with --fingerprint {}",
                kp.fingerprint,
                other.flag_value(),
                other.flag_value(),
                fingerprint.flag_value()
            ),
            None => format!(
                "{at}.fingerprint: {:?} is not the public key's fingerprint {:?}",
                kp.fingerprint, parsed.fingerprint
            ),
        });
    }
    if kp.creation_time > CREATION_TIME_MAX {
        return Err(format!(
            "{at}.creation_time: {} is after 9999-12-31T23:59:59Z (CreationTime has four-digit years)",
            kp.creation_time
        ));
    }
    if !account.resource_groups.contains(&kp.resource_group_id) {
        return Err(format!(
            "{at}.resource_group_id: {:?} is not among the account's resource_groups",
            kp.resource_group_id
        ));
    }
    if kp.tags.len() > validate::MAX_TAGS {
        return Err(format!(
            "{at}.tags: {} tags is more than the {} a resource holds",
            kp.tags.len(),
            validate::MAX_TAGS
        ));
    }
    let mut keys = BTreeSet::new();
    for (i, tag) in kp.tags.iter().enumerate() {
        let at = format!("{at}.tags[{i}]");
        validate::tag_key(&tag.key)
            .map_err(|_| format!("{at}.key: {:?} is not a valid tag key", tag.key))?;
        validate::tag_value(&tag.value)
            .map_err(|_| format!("{at}.value: {:?} is not a valid tag value", tag.value))?;
        if !keys.insert(tag.key.as_str()) {
            return Err(format!("{at}.key: {:?} is given twice", tag.key));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Instance, NewKeyPair, Origin, Store};
    use crate::validate::Tag;

    const REGION: &str = "cn-hangzhou";

    /// Stores `key` as tenant `t`'s key pair `name` in REGION, as ImportKeyPair does.
    fn import(store: &std::sync::Arc<Store>, name: &str, key: &str, tags: Vec<Tag>) {
        let key = sshkey::parse_openssh_public_key(key, sshkey::ParseOptions::default()).unwrap();
        store
            .reserve("t", REGION, name, None)
            .unwrap()
            .commit(NewKeyPair {
                fingerprint: key.fingerprint,
                public_key: key.openssh,
                resource_group_id: store.default_resource_group("t").unwrap(),
                tags,
                creation_time: 5,
                origin: Origin::Imported,
            });
    }

    /// A document the API could have made: two key pairs of tenant `t`, both tagged, the
    /// first attached to a Linux instance.
    fn valid() -> StateDoc {
        let store = Store::new(7);
        let env = || {
            vec![Tag {
                key: "env".into(),
                value: "ci".into(),
            }]
        };
        import(
            &store,
            "k1",
            include_str!("../tests/fixtures/pubkeys/ecdsa256.pub"),
            env(),
        );
        import(
            &store,
            "k2",
            include_str!("../tests/fixtures/pubkeys/dsa1024.pub"),
            env(),
        );
        store
            .with_account("t", |a| {
                a.instances.insert(
                    "i-1".into(),
                    Instance {
                        id: "i-1".into(),
                        region_id: REGION.into(),
                        status: "Running".into(),
                        os_type: OsType::Linux,
                        key_pair_name: Some("k1".into()),
                    },
                );
            })
            .unwrap();
        store.export()
    }

    fn key_pair<'d>(doc: &'d mut StateDoc, name: &str) -> &'d mut KeyPair {
        doc.accounts
            .get_mut("t")
            .unwrap()
            .regions
            .get_mut(REGION)
            .unwrap()
            .key_pairs
            .get_mut(name)
            .unwrap()
    }

    #[test]
    fn a_document_the_api_made_passes() {
        assert_eq!(check(&valid(), 7, Fingerprint::Md5), Ok(()));
    }

    #[test]
    fn a_document_holds_the_fingerprints_of_the_digest_it_was_saved_under() {
        let md5_doc = valid();
        let mut sha1_doc = valid();
        for name in ["k1", "k2"] {
            let kp = key_pair(&mut sha1_doc, name);
            kp.fingerprint = sshkey::parse_openssh_public_key(
                &kp.public_key,
                sshkey::ParseOptions {
                    allow_ed25519: false,
                    fingerprint: Fingerprint::Sha1,
                },
            )
            .unwrap()
            .fingerprint;
            assert_eq!(kp.fingerprint.len(), 59, "20 octets");
        }
        assert_eq!(check(&sha1_doc, 7, Fingerprint::Sha1), Ok(()));
        let at = format!("accounts[\"t\"].regions[\"{REGION}\"].key_pairs[\"k1\"].fingerprint");
        for (doc, saved, running) in [
            (&md5_doc, "md5", Fingerprint::Sha1),
            (&sha1_doc, "sha1", Fingerprint::Md5),
        ] {
            let got = check(doc, 7, running).unwrap_err();
            assert!(got.starts_with(&at), "{got}");
            assert!(
                got.ends_with(&format!(
                    "is the public key's {saved} fingerprint: the state was saved under --fingerprint {saved} but the server runs with --fingerprint {}",
                    running.flag_value()
                )),
                "{got}"
            );
        }
    }

    #[test]
    fn the_latest_creation_time_accepted_still_has_a_four_digit_year() {
        let mut doc = valid();
        key_pair(&mut doc, "k1").creation_time = CREATION_TIME_MAX;
        assert_eq!(check(&doc, 7, Fingerprint::Md5), Ok(()));
        assert_eq!(
            crate::clock::format_minutes(CREATION_TIME_MAX),
            "9999-12-31T23:59Z"
        );
    }

    #[test]
    fn refusals_name_the_part_at_fault() {
        let kp = r#"accounts["t"].regions["cn-hangzhou"].key_pairs["k1"]"#;
        type Break = fn(&mut StateDoc);
        let cases: &[(Break, String)] = &[
            // Regression (persistence review #3): another tenant's default group, or any
            // group, was taken as this one's, which no request could have made.
            (
                |d| {
                    let other = ids::default_resource_group_id(7, "u");
                    let a = d.accounts.get_mut("t").unwrap();
                    a.resource_groups.insert(other.clone());
                    a.default_resource_group = other;
                },
                format!(
                    "accounts[\"t\"].default_resource_group: {:?} is not the one the mock gives this AccessKeyId under this seed ({:?})",
                    ids::default_resource_group_id(7, "u"),
                    ids::default_resource_group_id(7, "t")
                ),
            ),
            (
                |d| key_pair(d, "k1").public_key = "garbage".into(),
                format!("{kp}.public_key: not an OpenSSH public key (unsupported key type \"garbage\")"),
            ),
            (
                |d| key_pair(d, "k1").public_key.push_str(" me@host"),
                format!("{kp}.public_key: not in the stored form `type base64` (no comment, single spaces)"),
            ),
            (
                |d| key_pair(d, "k1").fingerprint = "00:11".into(),
                format!("{kp}.fingerprint: \"00:11\" is not the public key's fingerprint"),
            ),
            (
                |d| {
                    let id = key_pair(d, "k1").id.clone();
                    key_pair(d, "k2").id = id;
                },
                "accounts[\"t\"].regions[\"cn-hangzhou\"].key_pairs[\"k2\"].id: \"ssh-".into(),
            ),
            // Regression (black-box audit, sixteenth session): a creation time past year
            // 9999 was restored, then listed as `31690708-07-05T01:46Z`.
            (
                |d| key_pair(d, "k1").creation_time = CREATION_TIME_MAX + 1,
                format!("{kp}.creation_time: 253402300800 is after 9999-12-31T23:59:59Z"),
            ),
            (
                |d| key_pair(d, "k1").id = "key-1".into(),
                format!("{kp}.id: \"key-1\" is not a KeyPairId"),
            ),
            // Regression (F4 of the persistence findings): the id a later CreateKeyPair of k3
            // derives was accepted for k1, and the service then held two key pairs with it.
            (
                |d| key_pair(d, "k1").id = ids::key_pair_id(7, "t", REGION, "k3", 0),
                format!(
                    "{kp}.id: {:?} is not the KeyPairId the mock derives for this key pair",
                    ids::key_pair_id(7, "t", REGION, "k3", 0)
                ),
            ),
            (
                |d| {
                    let a = d.accounts.get_mut("t").unwrap();
                    let r = a.regions.remove(REGION).unwrap();
                    a.regions.insert("nowhere-1".into(), r);
                },
                r#"accounts["t"].regions["nowhere-1"]: unknown region (no request could reach it)"#.into(),
            ),
            (
                |d| key_pair(d, "k1").tags[0].key = "acs:x".into(),
                format!("{kp}.tags[0].key: \"acs:x\" is not a valid tag key"),
            ),
            (
                |d| {
                    let t = key_pair(d, "k1").tags[0].clone();
                    key_pair(d, "k1").tags.push(t);
                },
                format!("{kp}.tags[1].key: \"env\" is given twice"),
            ),
            (
                |d| key_pair(d, "k1").resource_group_id = "rg-other".into(),
                format!("{kp}.resource_group_id: \"rg-other\" is not among the account's resource_groups"),
            ),
            (
                |d| key_pair(d, "k1").name = "other".into(),
                format!("{kp}: the key pair filed here is named \"other\""),
            ),
            (
                |d| key_pair(d, "k2").sequence = 0,
                r#"accounts["t"].regions["cn-hangzhou"].key_pairs["k2"].sequence: 0 is the sequence of another key pair"#.into(),
            ),
            (
                |d| d.accounts.get_mut("t").unwrap().next_sequence = 1,
                r#"accounts["t"].regions["cn-hangzhou"].key_pairs["k2"].sequence: 1 is not below the account's next_sequence 1"#.into(),
            ),
            (
                |d| {
                    let i = d.accounts.get_mut("t").unwrap().instances.get_mut("i-1").unwrap();
                    i.key_pair_name = Some("gone".into());
                },
                r#"accounts["t"].instances["i-1"].key_pair_name: no key pair "gone" in region "cn-hangzhou""#.into(),
            ),
            (
                |d| {
                    let i = d.accounts.get_mut("t").unwrap().instances.get_mut("i-1").unwrap();
                    i.os_type = OsType::Windows;
                },
                r#"accounts["t"].instances["i-1"].key_pair_name: a Windows instance holds no key pair"#.into(),
            ),
            (
                |d| {
                    let i = d.accounts.get_mut("t").unwrap().instances.get_mut("i-1").unwrap();
                    i.region_id = "mars-1".into();
                },
                r#"accounts["t"].instances["i-1"].region_id: unknown region "mars-1""#.into(),
            ),
            (
                |d| {
                    let a = d.accounts.remove("t").unwrap();
                    d.accounts.insert(String::new(), a);
                },
                r#"accounts[""]: the AccessKeyId must not be empty"#.into(),
            ),
            (
                |d| d.seed = 8,
                "state was saved with seed 8 but the server runs with seed 7".into(),
            ),
            // Counters the next request would overflow (F3 of the persistence findings).
            (
                |d| d.accounts.get_mut("t").unwrap().next_sequence = u64::MAX,
                r#"accounts["t"].next_sequence: 18446744073709551615; more than any run could count"#.into(),
            ),
            (
                |d| {
                    let a = d.accounts.get_mut("t").unwrap();
                    let r = a.regions.get_mut(REGION).unwrap();
                    r.key_pairs.remove("k2");
                    r.generations.insert("k2".into(), u64::MAX);
                },
                r#"accounts["t"].regions["cn-hangzhou"].generations["k2"]: 18446744073709551615; more than any run could count"#.into(),
            ),
            (
                |d| {
                    d.request_ordinals.insert("t".into(), u64::MAX);
                },
                r#"request_ordinals["t"]: 18446744073709551615; more than any run could count"#.into(),
            ),
            // AccessKeyIds no request can carry (F6 of the persistence findings).
            (
                |d| {
                    let a = d.accounts.remove("t").unwrap();
                    d.accounts.insert("L".repeat(MAX_ACCESS_KEY_ID_LEN + 1), a);
                },
                format!(
                    "accounts[\"{}\"…]: the AccessKeyId is 129 bytes, longer than the 128 a request may carry",
                    "L".repeat(64)
                ),
            ),
            (
                |d| {
                    d.request_ordinals.insert("L".repeat(MAX_ACCESS_KEY_ID_LEN + 1), 1);
                },
                format!(
                    "request_ordinals[\"{}\"…]: the AccessKeyId is 129 bytes, longer than the 128 a request may carry",
                    "L".repeat(64)
                ),
            ),
            (
                |d| {
                    d.request_ordinals.insert("L".repeat(5_000_000), 1);
                },
                format!(
                    "request_ordinals[\"{}\"…]: the AccessKeyId is 5000000 bytes",
                    "L".repeat(64)
                ),
            ),
            (
                |d| {
                    let a = d.accounts.get_mut("t").unwrap();
                    let r = a.regions.get_mut(REGION).unwrap();
                    r.generations.insert("http://evil".into(), 2);
                },
                r#"accounts["t"].regions["cn-hangzhou"].generations["http://evil"]: not a KeyPairName any request could have created"#.into(),
            ),
        ];
        for (i, (breaks, want)) in cases.iter().enumerate() {
            let mut doc = valid();
            breaks(&mut doc);
            let got = check(&doc, 7, Fingerprint::Md5).expect_err(want);
            assert!(
                got.starts_with(want.as_str()),
                "case {i}\n  got:  {got}\n  want: {want}"
            );
            assert!(
                got.len() <= MAX_MESSAGE + 40,
                "case {i}: {} bytes",
                got.len()
            );
        }
    }
    #[test]
    fn counters_just_below_the_largest_pass() {
        let mut doc = valid();
        let a = doc.accounts.get_mut("t").unwrap();
        a.next_sequence = COUNTER_MAX;
        let r = a.regions.get_mut(REGION).unwrap();
        r.key_pairs.remove("k2");
        r.generations.insert("k2".into(), COUNTER_MAX);
        doc.request_ordinals.insert("t".into(), COUNTER_MAX);
        assert_eq!(check(&doc, 7, Fingerprint::Md5), Ok(()));
    }

    #[test]
    fn an_access_key_id_of_the_longest_length_passes() {
        let long = "L".repeat(MAX_ACCESS_KEY_ID_LEN);
        let mut doc = valid();
        let mut a = doc.accounts.remove("t").unwrap();
        // Its default group and key pairs as the API would have made them for this tenant.
        let default = ids::default_resource_group_id(7, &long);
        a.resource_groups.remove(&a.default_resource_group);
        a.resource_groups.insert(default.clone());
        a.default_resource_group = default.clone();
        for (region, r) in a.regions.iter_mut() {
            for (name, kp) in r.key_pairs.iter_mut() {
                kp.id = ids::key_pair_id(7, &long, region, name, 0);
                kp.resource_group_id = default.clone();
            }
        }
        doc.accounts.insert(long.clone(), a);
        doc.request_ordinals.insert(long, 1);
        assert_eq!(check(&doc, 7, Fingerprint::Md5), Ok(()));
    }

    #[test]
    fn a_recreated_name_has_the_id_of_its_latest_generation() {
        let store = Store::new(7);
        let key = include_str!("../tests/fixtures/pubkeys/ecdsa256.pub");
        import(&store, "kk", key, vec![]);
        store
            .with_account("t", |a| a.region(REGION).remove("kk"))
            .unwrap();
        import(&store, "kk", key, vec![]);
        let mut doc = store.export();
        assert_eq!(
            key_pair(&mut doc, "kk").id,
            ids::key_pair_id(7, "t", REGION, "kk", 1)
        );
        assert_eq!(check(&doc, 7, Fingerprint::Md5), Ok(()));
    }

    #[test]
    fn request_ordinals_are_capped_like_the_store_counts_them() {
        // Regression (F1 of the persistence findings): the accounts were capped, the RequestId
        // counters were not, so a PUT could hold any number of them.
        // Arrange: as many tenants as the store counts apart, plus the shared counter of the
        // ones past the cap, which the store keeps too.
        let mut doc = valid();
        doc.request_ordinals = (0..MAX_COUNTED_TENANTS)
            .map(|i| (format!("t{i}"), 1))
            .chain([(String::new(), 1)])
            .collect();
        assert_eq!(check(&doc, 7, Fingerprint::Md5), Ok(()));
        // Act: one tenant more.
        doc.request_ordinals.insert("one-too-many".into(), 1);
        // Assert
        assert_eq!(
            check(&doc, 7, Fingerprint::Md5),
            Err("request_ordinals: 100001 tenants with their own counter is more than the 100000 the mock counts apart".into())
        );
    }

    #[test]
    fn unknown_fields_and_repeated_keys_anywhere_in_a_document_are_refused() {
        // Regression (F5 of the persistence findings): key pairs, tags and instances took any
        // field (a misspelt `key_pair_name` silently detached a key pair), and a key given
        // twice in a map kept the last copy.
        let text = serde_json::to_string(&valid()).unwrap();
        let parse = |text: &str| serde_json::from_str::<StateDoc>(text).map_err(|e| e.to_string());
        assert!(parse(&text).is_ok(), "the unchanged document parses");
        let kp = r#""name":"k1","#;
        let instance = r#""key_pair_name":"k1""#;
        let cases = [
            (kp, r#""name":"k1","bogus":1,"#, "unknown field `bogus`"),
            (
                r#""key":"env","#,
                r#""key":"env","bogus":1,"#,
                "unknown field `bogus`",
            ),
            (
                instance,
                r#""keypair_name":"k1""#,
                "unknown field `keypair_name`",
            ),
            (kp, r#""name":"k1","name":"k1","#, "duplicate field `name`"),
            (
                r#""request_ordinals":{}"#,
                r#""request_ordinals":{"a":1,"a":2}"#,
                r#"the key "a" is given twice in one object"#,
            ),
            (
                r#""generations":{"#,
                r#""generations":{"k1":1,"#,
                r#"the key "k1" is given twice in one object"#,
            ),
            (
                r#""instances":{"#,
                r#""instances":{"i-1":{"id":"i-1","region_id":"cn-hangzhou","status":"Running","os_type":"linux","key_pair_name":null},"#,
                r#"the key "i-1" is given twice in one object"#,
            ),
            (
                r#""resource_groups":["#,
                r#""resource_groups":["rg-twice","rg-twice","#,
                r#""rg-twice" is given twice in one list"#,
            ),
        ];
        for (from, to, want) in cases {
            assert!(text.contains(from), "{from} in {text}");
            let got = parse(&text.replacen(from, to, 1)).expect_err(to);
            assert!(got.contains(want), "{to}\n  got:  {got}\n  want: {want}");
        }
    }
}
