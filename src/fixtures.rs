//! Account state fixtures: resource groups and ECS instances that exist in an account before
//! the first request, declared per AccessKeyId in a JSON file.
//!
//! The mock has no API that creates instances or resource groups, yet AttachKeyPair,
//! DetachKeyPair, DeleteKeyPairs and JoinResourceGroup need them; fixtures supply them. This
//! module owns the file format, its validation and applying it to a [`Store`]; the command line
//! (`--fixtures FILE`, repeatable, or `ECS_MOCK_FIXTURES=a.json,b.json`) lives in
//! [`crate::config`], and [`crate::service::App::new`] applies every loaded file in order.
//! Scenario files embed the same [`Fixtures`] type, so it is public and (de)serialisable.
//!
//! # Format
//!
//! ```json
//! {
//!   "accounts": {
//!     "ak-1": {
//!       "resource_groups": ["rg-aek2abcdefgh123"],
//!       "instances": [
//!         {"instance_id": "i-bp1abc", "region_id": "cn-hangzhou", "status": "Running", "os_type": "linux"},
//!         {"instance_id": "i-bp1win", "region_id": "cn-hangzhou", "os_type": "windows"}
//!       ]
//!     }
//!   }
//! }
//! ```
//!
//! ```text
//! accounts                   object   AccessKeyId (non-empty, at most 128 bytes) → account
//!   resource_groups          [string] optional; each `rg-` + letters/digits, no repeats;
//!                                     added to the account's default group
//!   instances                [object] optional
//!     instance_id            string   required; non-empty, no whitespace, unique per account
//!     region_id              string   required; a region of regions::REGIONS
//!     os_type                string   required; "linux" | "windows" (only Linux takes key pairs)
//!     status                 string   optional, default "Running"; one of INSTANCE_STATUSES
//! ```
//!
//! Unknown fields are refused, so a misspelt field is an error rather than silently ignored.
//! Every error names the path of the offending item, e.g.
//! `accounts."ak-1".instances[0].region_id: unknown region "cn-hangzou"`.
//!
//! Several files apply in order and add up: resource groups are unioned, and an instance id
//! that a later file declares again for the same account replaces the earlier declaration
//! (base file + per-test overrides). Instances start with no key pair attached.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::regions;
use crate::store::{Instance, OsType, Refill, Store};

/// Instance states a fixture may declare (the ECS `Status` values); informational only.
pub const INSTANCE_STATUSES: &[&str] = &["Pending", "Running", "Starting", "Stopping", "Stopped"];

/// Whether `id` has the form of a resource group id: `rg-` then letters and digits.
pub fn is_resource_group_id(id: &str) -> bool {
    id.strip_prefix("rg-")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A fixtures file: per-AccessKeyId account state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    /// Accounts by AccessKeyId.
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountFixture>,
}

/// What one account holds besides its key pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountFixture {
    /// Resource groups in addition to the account's default one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<InstanceFixture>,
}

/// One ECS instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceFixture {
    pub instance_id: String,
    pub region_id: String,
    pub os_type: OsType,
    #[serde(default = "default_status")]
    pub status: String,
}

fn default_status() -> String {
    "Running".to_string()
}

/// A fixture that does not parse or does not validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureError {
    /// Where in the document: `accounts."ak-1".instances[0].region_id`, or `$` for the root.
    pub path: String,
    /// What is wrong there.
    pub problem: String,
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

impl std::error::Error for FixtureError {}

fn err(path: impl Into<String>, problem: impl Into<String>) -> FixtureError {
    FixtureError {
        path: path.into(),
        problem: problem.into(),
    }
}

/// Deserialises `value` as a `T`, blaming `path` for any serde error.
fn typed<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    path: &str,
) -> Result<T, FixtureError> {
    crate::jsondoc::typed(path, value).map_err(|(path, e)| err(path, e.to_string()))
}

impl Fixtures {
    /// Reads and validates a fixtures file.
    ///
    /// # Errors
    /// The file cannot be read, is not JSON, or breaks a rule of the format; the message
    /// names the file and the path of the bad item.
    pub fn load(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read fixtures file {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("invalid fixtures file {}", path.display()))
    }

    /// Parses and validates fixtures from JSON text.
    ///
    /// # Errors
    /// See [`Fixtures::from_value`]; text that is not JSON fails at path `$`.
    pub fn from_json(text: &str) -> Result<Self, FixtureError> {
        // The strict reader also refuses a key given twice: JSON, but ambiguous.
        let value = crate::jsondoc::strict(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => err("$", e.to_string()),
            _ => err("$", format!("not JSON: {e}")),
        })?;
        Self::from_value(value)
    }

    /// Builds and validates fixtures from a parsed JSON document (scenario files call this on
    /// their embedded `fixtures` object).
    ///
    /// The document is taken apart level by level rather than in one serde pass so that a
    /// type error or an unknown field is reported with its path, which serde_json alone does
    /// not give (it only knows line and column, and not at all for an in-memory value).
    ///
    /// # Errors
    /// Unknown or mistyped fields, and every rule of [`Fixtures::validate`].
    pub fn from_value(value: serde_json::Value) -> Result<Self, FixtureError> {
        let serde_json::Value::Object(mut root) = value else {
            return Err(err("$", "expected an object with an \"accounts\" field"));
        };
        if let Some(unknown) = root.keys().find(|k| *k != "accounts") {
            return Err(err(
                "$",
                format!("unknown field `{unknown}`, expected `accounts`"),
            ));
        }
        let accounts = match root.remove("accounts") {
            None => serde_json::Map::new(),
            Some(serde_json::Value::Object(m)) => m,
            Some(_) => return Err(err("accounts", "expected an object keyed by AccessKeyId")),
        };
        let mut out = Fixtures::default();
        for (ak, account) in accounts {
            let path = account_path(&ak);
            let serde_json::Value::Object(mut fields) = account else {
                return Err(err(path, "expected an object"));
            };
            // Instances are split off and typed one by one so their errors carry an index.
            let instances = fields.remove("instances");
            let mut parsed: AccountFixture = typed(serde_json::Value::Object(fields), &path)?;
            match instances {
                None => {}
                Some(serde_json::Value::Array(items)) => {
                    for (i, item) in items.into_iter().enumerate() {
                        parsed
                            .instances
                            .push(typed(item, &format!("{path}.instances[{i}]"))?);
                    }
                }
                Some(_) => return Err(err(format!("{path}.instances"), "expected an array")),
            }
            out.accounts.insert(ak, parsed);
        }
        out.validate()?;
        Ok(out)
    }

    /// Checks the rules serde cannot express.
    ///
    /// # Errors
    /// More accounts than the mock holds; an empty or over-long AccessKeyId; a resource group
    /// id that is not `rg-` + letters/digits, or is listed twice; an instance id that is
    /// empty, contains whitespace, or repeats within the account; an unknown region id; a
    /// status outside [`INSTANCE_STATUSES`].
    pub fn validate(&self) -> Result<(), FixtureError> {
        // The store makes no account past its cap: the rest would be dropped unseen.
        if self.accounts.len() > crate::store::MAX_ACCOUNTS {
            return Err(err(
                "accounts",
                format!(
                    "{} accounts is more than the {} the mock holds",
                    self.accounts.len(),
                    crate::store::MAX_ACCOUNTS
                ),
            ));
        }
        for (ak, account) in &self.accounts {
            let path = account_path(ak);
            if ak.is_empty() {
                return Err(err(path, "the AccessKeyId must not be empty"));
            }
            // No request could reach the account, and a state file holding it is refused.
            if ak.len() > crate::store::MAX_ACCESS_KEY_ID_LEN {
                return Err(err(
                    path,
                    format!(
                        "the AccessKeyId is {} bytes, longer than the {} a request may carry",
                        ak.len(),
                        crate::store::MAX_ACCESS_KEY_ID_LEN
                    ),
                ));
            }
            let mut groups = BTreeSet::new();
            for (i, rg) in account.resource_groups.iter().enumerate() {
                let at = format!("{path}.resource_groups[{i}]");
                if !is_resource_group_id(rg) {
                    return Err(err(
                        at,
                        format!(
                            "{rg:?} is not a resource group id (`rg-` then letters and digits)"
                        ),
                    ));
                }
                if !groups.insert(rg.as_str()) {
                    return Err(err(at, format!("resource group {rg:?} is listed twice")));
                }
            }
            let mut ids = BTreeSet::new();
            for (i, inst) in account.instances.iter().enumerate() {
                let at = format!("{path}.instances[{i}]");
                let id = &inst.instance_id;
                if id.is_empty() || id.chars().any(char::is_whitespace) {
                    return Err(err(
                        format!("{at}.instance_id"),
                        format!("{id:?} is not an instance id (non-empty, no whitespace)"),
                    ));
                }
                if !ids.insert(id.as_str()) {
                    return Err(err(
                        format!("{at}.instance_id"),
                        format!("instance {id:?} is declared twice in this account"),
                    ));
                }
                if regions::find(&inst.region_id).is_none() {
                    return Err(err(
                        format!("{at}.region_id"),
                        format!("unknown region {:?}", inst.region_id),
                    ));
                }
                if !INSTANCE_STATUSES.contains(&inst.status.as_str()) {
                    return Err(err(
                        format!("{at}.status"),
                        format!(
                            "unknown status {:?}, expected one of {}",
                            inst.status,
                            INSTANCE_STATUSES.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Adds the declared resource groups and instances to `store`.
    ///
    /// An instance id the account already holds is replaced, and loses any key pair binding.
    pub fn apply(&self, store: &Store) {
        store.refill(|accounts| self.apply_to(accounts, None));
    }

    /// [`Fixtures::apply`] for one tenant only (`Some`), or all (`None`), on the accounts a
    /// reset refills: after a reset of one tenant, only that tenant's fixtures come back.
    pub fn apply_to(&self, accounts: &mut Refill<'_>, only: Option<&str>) {
        for (ak, account) in &self.accounts {
            if only.is_some_and(|t| t != ak) {
                continue;
            }
            // Refused only for a tenant the store has no place for: one without an account
            // (dropped by a PUT of the state, say) reset while other tenants fill the store.
            // Its requests are then refused as any new tenant's.
            let Ok(acc) = accounts.account(ak) else {
                tracing::warn!(
                    access_key_id = %ak,
                    "fixtures not applied: the store holds as many accounts as it can"
                );
                continue;
            };
            acc.resource_groups
                .extend(account.resource_groups.iter().cloned());
            for inst in &account.instances {
                acc.instances.insert(
                    inst.instance_id.clone(),
                    Instance {
                        id: inst.instance_id.clone(),
                        region_id: inst.region_id.clone(),
                        status: inst.status.clone(),
                        os_type: inst.os_type,
                        key_pair_name: None,
                    },
                );
            }
        }
    }
}

/// `accounts."<ak>"`: AccessKeyIds may hold dots, so they are quoted.
fn account_path(ak: &str) -> String {
    format!("accounts.{ak:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../tests/fixtures/accounts.json");

    #[test]
    fn the_sample_file_parses_and_round_trips() {
        let f = Fixtures::from_json(SAMPLE).unwrap();
        assert!(!f.accounts.is_empty());
        let again = Fixtures::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(again, f, "serialising then parsing gives the same fixtures");
    }

    #[test]
    fn status_defaults_to_running_and_lists_default_to_empty() {
        let f = Fixtures::from_json(
            r#"{"accounts": {"a": {"instances": [
                {"instance_id": "i-1", "region_id": "cn-beijing", "os_type": "windows"}]},
              "b": {}}}"#,
        )
        .unwrap();
        let inst = &f.accounts["a"].instances[0];
        assert_eq!(inst.status, "Running");
        assert_eq!(inst.os_type, OsType::Windows);
        assert!(f.accounts["b"].instances.is_empty() && f.accounts["b"].resource_groups.is_empty());
        assert_eq!(Fixtures::from_json("{}").unwrap(), Fixtures::default());
    }

    #[test]
    fn more_accounts_than_the_store_holds_are_refused() {
        // The store would have dropped those past its cap without a word.
        let accounts: Vec<String> = (0..=crate::store::MAX_ACCOUNTS)
            .map(|i| format!(r#""ak-{i}": {{}}"#))
            .collect();
        let e = Fixtures::from_json(&format!(r#"{{"accounts": {{{}}}}}"#, accounts.join(",")))
            .unwrap_err();
        assert_eq!(e.path, "accounts");
        assert_eq!(
            e.problem,
            "100001 accounts is more than the 100000 the mock holds"
        );
    }

    #[test]
    fn errors_name_the_path_of_the_bad_item() {
        let inst = |fields: &str| {
            format!(
                r#"{{"accounts": {{"ak-1": {{"instances": [
                    {{"instance_id": "i-ok", "region_id": "cn-hangzhou", "os_type": "linux"}},
                    {fields}]}}}}}}"#
            )
        };
        let long = "L".repeat(129);
        let long_path = format!("accounts.\"{long}\"");
        let cases: Vec<(String, &str, &str)> = vec![
            ("[]".into(), "$", "expected an object"),
            ("{".into(), "$", "not JSON"),
            (r#"{"acounts": {}}"#.into(), "$", "unknown field `acounts`"),
            (
                r#"{"accounts": []}"#.into(),
                "accounts",
                "expected an object",
            ),
            (
                r#"{"accounts": {"ak-1": 1}}"#.into(),
                r#"accounts."ak-1""#,
                "expected an object",
            ),
            (
                r#"{"accounts": {"ak-1": {"instance": []}}}"#.into(),
                r#"accounts."ak-1".instance"#,
                "unknown field `instance`",
            ),
            (
                r#"{"accounts": {"ak-1": {"instances": {}}}}"#.into(),
                r#"accounts."ak-1".instances"#,
                "expected an array",
            ),
            (
                r#"{"accounts": {"": {}}}"#.into(),
                r#"accounts."""#,
                "must not be empty",
            ),
            // Regression (findings-review F3): accepted, then the server saved a state file
            // it refused to start from.
            (
                format!(r#"{{"accounts": {{"{long}": {{}}}}}}"#),
                &long_path,
                "the AccessKeyId is 129 bytes, longer than the 128 a request may carry",
            ),
            (
                r#"{"accounts": {"ak-1": {"resource_groups": ["rg-ok", "grp-1"]}}}"#.into(),
                r#"accounts."ak-1".resource_groups[1]"#,
                "\"grp-1\" is not a resource group id",
            ),
            (
                r#"{"accounts": {"ak-1": {"resource_groups": ["rg-"]}}}"#.into(),
                r#"accounts."ak-1".resource_groups[0]"#,
                "is not a resource group id",
            ),
            (
                r#"{"accounts": {"ak-1": {"resource_groups": ["rg-a", "rg-a"]}}}"#.into(),
                r#"accounts."ak-1".resource_groups[1]"#,
                "listed twice",
            ),
            (
                inst(r#"{"instance_id": "i-2", "region_id": "cn-hangzou", "os_type": "linux"}"#),
                r#"accounts."ak-1".instances[1].region_id"#,
                "unknown region \"cn-hangzou\"",
            ),
            (
                inst(r#"{"instance_id": "", "region_id": "cn-hangzhou", "os_type": "linux"}"#),
                r#"accounts."ak-1".instances[1].instance_id"#,
                "is not an instance id",
            ),
            (
                inst(r#"{"instance_id": "i 2", "region_id": "cn-hangzhou", "os_type": "linux"}"#),
                r#"accounts."ak-1".instances[1].instance_id"#,
                "is not an instance id",
            ),
            (
                inst(r#"{"instance_id": "i-ok", "region_id": "cn-beijing", "os_type": "linux"}"#),
                r#"accounts."ak-1".instances[1].instance_id"#,
                "declared twice",
            ),
            (
                // Regression (findings-cli #7): serde's errors stopped at the instance.
                inst(r#"{"instance_id": "i-2", "region_id": "cn-hangzhou", "os_type": "Linux"}"#),
                r#"accounts."ak-1".instances[1].os_type"#,
                "unknown variant `Linux`, expected `linux` or `windows`",
            ),
            (
                inst(r#"{"instance_id": "i-2", "region_id": "cn-hangzhou"}"#),
                r#"accounts."ak-1".instances[1]"#,
                "missing field `os_type`",
            ),
            (
                inst(
                    r#"{"instance_id": "i-2", "region_id": "cn-hangzhou", "os_type": "linux", "os": "x"}"#,
                ),
                r#"accounts."ak-1".instances[1].os"#,
                "unknown field `os`",
            ),
            (
                inst(
                    r#"{"instance_id": "i-2", "region_id": "cn-hangzhou", "os_type": "linux", "status": "running"}"#,
                ),
                r#"accounts."ak-1".instances[1].status"#,
                "unknown status \"running\"",
            ),
            (
                inst(r#"{"instance_id": 7, "region_id": "cn-hangzhou", "os_type": "linux"}"#),
                r#"accounts."ak-1".instances[1].instance_id"#,
                "invalid type",
            ),
        ];
        // Regression (second black-box audit, sixteenth session): a key given twice kept the
        // last one silently, dropping the first account's instances.
        let cases = cases.into_iter().chain([
            (
                r#"{"accounts": {"a": {}, "a": {}}}"#.to_string(),
                "$",
                "the key \"a\" is given twice in one object",
            ),
            (
                inst(r#"{"instance_id": "i-2", "instance_id": "i-3", "region_id": "cn-hangzhou", "os_type": "linux"}"#),
                "$",
                "the key \"instance_id\" is given twice in one object",
            ),
        ]);
        for (json, path, problem) in cases {
            let e = Fixtures::from_json(&json).unwrap_err();
            assert_eq!(e.path, path, "{json}\n→ {e}");
            assert!(e.problem.contains(problem), "{json}\n→ {e}");
            assert_eq!(e.to_string(), format!("{}: {}", e.path, e.problem));
        }
    }

    #[test]
    fn the_same_instance_id_may_live_in_two_accounts() {
        let json = r#"{"accounts": {
            "a": {"instances": [{"instance_id": "i-1", "region_id": "cn-hangzhou", "os_type": "linux"}]},
            "b": {"instances": [{"instance_id": "i-1", "region_id": "cn-hangzhou", "os_type": "linux"}]}}}"#;
        assert!(Fixtures::from_json(json).is_ok());
    }

    #[test]
    fn apply_adds_groups_and_instances_and_later_files_replace_instances() {
        let store = Store::new(0);
        let base = Fixtures::from_json(
            r#"{"accounts": {"ak": {"resource_groups": ["rg-extra"], "instances": [
                {"instance_id": "i-1", "region_id": "cn-hangzhou", "os_type": "linux"}]}}}"#,
        )
        .unwrap();
        let over = Fixtures::from_json(
            r#"{"accounts": {"ak": {"instances": [
                {"instance_id": "i-1", "region_id": "cn-beijing", "os_type": "windows", "status": "Stopped"}]}}}"#,
        )
        .unwrap();
        base.apply(&store);
        over.apply(&store);
        store
            .with_account("ak", |acc| {
                assert!(acc.resource_groups.contains("rg-extra"));
                assert!(
                    acc.resource_groups.contains(&acc.default_resource_group),
                    "the default group stays"
                );
                let i = &acc.instances["i-1"];
                assert_eq!(
                    (i.region_id.as_str(), i.os_type, i.status.as_str()),
                    ("cn-beijing", OsType::Windows, "Stopped")
                );
                assert_eq!(i.key_pair_name, None);
            })
            .unwrap();
        store
            .with_account("other", |acc| assert!(acc.instances.is_empty()))
            .unwrap();
    }
}
