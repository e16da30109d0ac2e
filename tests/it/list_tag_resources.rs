//! ListTagResources over HTTP: one entry per (key pair, tag) in creation then tag order,
//! paging by NextToken over 50-entry pages, the Tag.N / TagFilter.N / acs:rm:rgId criteria,
//! and every error in JSON and XML.

use serde_json::{json, Value};

use crate::support::assert_error_in_json_and_xml;
use crate::support::{snapshot_settings, Call, Style, TestServer};
use crate::tag_resources::{insert_key_pair, with_params, REGION};

fn list(server: &TestServer, tenant: &str) -> Call {
    server
        .call(tenant, "ListTagResources")
        .region(REGION)
        .param("ResourceType", "keypair")
}

/// `(ResourceId, TagKey, TagValue)` of each entry, checking `ResourceType` on the way.
fn entries(body: &Value) -> Vec<(String, String, String)> {
    body["TagResources"]["TagResource"]
        .as_array()
        .unwrap_or_else(|| panic!("TagResource is not an array: {body}"))
        .iter()
        .map(|e| {
            assert_eq!(e["ResourceType"], "keypair");
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("ResourceId"), s("TagKey"), s("TagValue"))
        })
        .collect()
}

fn triples(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

/// 30 key pairs × 2 tags, inserted in name order k00, k01, …
fn arrange_sixty_entries(server: &TestServer, tenant: &str) -> Vec<(String, String, String)> {
    let mut want = Vec::new();
    for i in 0..30 {
        let name = format!("k{i:02}");
        let owner = format!("o{i}");
        insert_key_pair(
            server,
            tenant,
            REGION,
            &name,
            &[("env", "prod"), ("owner", &owner)],
        );
        want.push((name.clone(), "env".to_string(), "prod".to_string()));
        want.push((name, "owner".to_string(), owner));
    }
    want
}

#[tokio::test]
async fn sixty_entries_come_in_a_page_of_fifty_with_a_token_then_a_last_page_without_one() {
    // Arrange
    let server = TestServer::start(42).await;
    let t = "t-list-paging";
    let want = arrange_sixty_entries(&server, t);
    // Act
    let first = list(&server, t).param("Tag.1.Key", "env").send().await;
    first.assert_ok();
    let first = first.json();
    let token = first["NextToken"]
        .as_str()
        .expect("a NextToken on a non-last page")
        .to_string();
    let second = list(&server, t)
        .param("Tag.1.Key", "env")
        .param("NextToken", &token)
        .send()
        .await;
    second.assert_ok();
    let second = second.json();
    // Assert: order is creation order, then tag order; all tags of each key pair are listed.
    assert_eq!(token.len(), 32);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{token}"
    );
    assert_eq!(
        first.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["RequestId", "NextToken", "TagResources"]
    );
    assert_eq!(entries(&first).len(), 50);
    assert_eq!(
        second.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["RequestId", "TagResources"],
        "the last page carries no NextToken key at all"
    );
    assert_eq!([entries(&first), entries(&second)].concat(), want);
}

#[tokio::test]
async fn a_token_resumes_after_its_last_entry_when_the_listed_key_pairs_are_deleted_meanwhile() {
    // Regression: the token was an entry offset, so the usual clean-up loop (list a page of
    // tagged key pairs, delete them, follow the token) got an empty last page while 5 tagged
    // key pairs were left. It now resumes after the last entry it listed.
    // Arrange: 20 key pairs × 3 tags, so the first page ends inside k16's tags.
    let server = TestServer::start(43).await;
    let t = "t-list-cleanup";
    let mut want = Vec::new();
    for i in 0..20 {
        let name = format!("k{i:02}");
        let tags = [("a", "1"), ("b", "2"), ("c", "3")];
        insert_key_pair(&server, t, REGION, &name, &tags);
        want.extend(tags.map(|(k, v)| (name.clone(), k.to_string(), v.to_string())));
    }
    let first = list(&server, t).param("Tag.1.Key", "a").send().await.json();
    let token = first["NextToken"].as_str().unwrap().to_string();
    assert_eq!(
        entries(&first),
        want[..50],
        "k00..k15 and two of k16's tags"
    );
    let listed: Vec<String> = (0..16).map(|i| format!("k{i:02}")).collect();
    // Act: delete the key pairs the page listed whole, add one after them.
    server
        .call(t, "DeleteKeyPairs")
        .region(REGION)
        .param("KeyPairNames", &serde_json::to_string(&listed).unwrap())
        .send()
        .await
        .assert_ok();
    insert_key_pair(&server, t, REGION, "k20", &[("a", "new")]);
    let second = list(&server, t)
        .param("Tag.1.Key", "a")
        .param("NextToken", &token)
        .send()
        .await
        .json();
    // Assert: k16's last tag, k17..k19, then the newcomer; nothing skipped, nothing repeated.
    let mut rest = want[50..].to_vec();
    rest.push(("k20".into(), "a".into(), "new".into()));
    assert_eq!(entries(&second), rest);
    assert!(second.get("NextToken").is_none(), "{second}");
}

/// Gives `key_pairs` key pairs 20 tags `key00`..`key19` each, then runs the usual clean-up
/// loop: list a page (`key*`), untag every (key pair, key) it listed (and with `retag`, tag
/// it again), follow the token. Returns the entries in the order they were listed.
async fn clean_up_loop(
    server: &TestServer,
    t: &str,
    key_pairs: usize,
    retag: bool,
) -> Vec<(String, String)> {
    let keys: Vec<String> = (0..20).map(|i| format!("key{i:02}")).collect();
    for k in 0..key_pairs {
        let tags: Vec<(&str, &str)> = keys.iter().map(|key| (key.as_str(), "v")).collect();
        insert_key_pair(server, t, REGION, &format!("k{k}"), &tags);
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut call = list(server, t).param("TagFilter.1.TagKey", "key*");
        if let Some(token) = &token {
            call = call.param("NextToken", token);
        }
        let page = call.send().await.json();
        for (id, key, _) in entries(&page) {
            let on = |action| {
                server
                    .call(t, action)
                    .region(REGION)
                    .param("ResourceType", "keypair")
                    .param("ResourceId.1", &id)
            };
            on("UntagResources")
                .param("TagKey.1", &key)
                .send()
                .await
                .assert_ok();
            if retag {
                on("TagResources")
                    .param("Tag.1.Key", &key)
                    .param("Tag.1.Value", "v")
                    .send()
                    .await
                    .assert_ok();
            }
            seen.push((id, key));
        }
        match page["NextToken"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    seen
}

fn distinct(seen: &[(String, String)]) -> usize {
    let mut unique = seen.to_vec();
    unique.sort();
    unique.dedup();
    unique.len()
}

#[tokio::test]
async fn a_token_resumes_after_its_tag_when_the_listed_tags_are_untagged_meanwhile() {
    // Regression (review of the keyset token): the token kept the tag's position, and
    // untagging what a page listed moved the rest of that key pair's tags below it, so the
    // untag clean-up loop missed them when a page ended inside a key pair.
    // Arrange: 4 key pairs × 20 tags; the first page ends after k2's tenth tag.
    let server = TestServer::start(44).await;
    let t = "t-list-untag";
    // Act
    let seen = clean_up_loop(&server, t, 4, false).await;
    // Assert: every entry was listed once, and none is left.
    assert_eq!(seen.len(), 80, "{seen:?}");
    assert_eq!(distinct(&seen), 80);
    let left = list(&server, t)
        .param("TagFilter.1.TagKey", "key*")
        .send()
        .await
        .json();
    assert_eq!(entries(&left), []);
}

#[tokio::test]
async fn a_token_never_skips_tags_when_the_listed_tags_are_untagged_and_tagged_again() {
    // Regression (code review): untagging a key and tagging it again moves it to the end of
    // its key pair's tags; a token that resumed after that key skipped the tags it passed.
    // Arrange: 3 key pairs × 20 tags; the first page ends after k2's tenth tag.
    let server = TestServer::start(45).await;
    // Act
    let seen = clean_up_loop(&server, "t-list-retag", 3, true).await;
    // Assert: every entry was listed at least once (a repeat is allowed, a miss is not).
    assert_eq!(distinct(&seen), 60, "{seen:?}");
}

#[tokio::test]
async fn a_token_never_skips_a_tag_when_an_earlier_one_goes_and_the_listed_one_comes_back() {
    // Regression (actions review, twenty-eighth session): untagging a tag the page listed
    // before the last one, then untagging and tagging again that last one, put it back at
    // its old position with an unlisted tag before it, and the token resumed after it.
    // Arrange: 47 entries, then kx with A, B, T, C: the first page ends at (kx, T).
    let server = TestServer::start(46).await;
    let t = "t-list-shift";
    let keys: Vec<String> = (0..20).map(|j| format!("x{j}")).collect();
    let tags =
        |n: usize| -> Vec<(&str, &str)> { keys[..n].iter().map(|k| (k.as_str(), "v")).collect() };
    insert_key_pair(&server, t, REGION, "u1", &tags(20));
    insert_key_pair(&server, t, REGION, "u2", &tags(20));
    insert_key_pair(&server, t, REGION, "u3", &tags(7));
    insert_key_pair(
        &server,
        t,
        REGION,
        "kx",
        &[("A", "a"), ("B", "b"), ("T", "t"), ("C", "c")],
    );
    let first = list(&server, t)
        .param("TagFilter.1.TagKey", "*")
        .send()
        .await
        .json();
    let listed = entries(&first);
    assert_eq!(listed.len(), 50);
    assert_eq!(
        listed[49],
        ("kx".to_string(), "T".to_string(), "t".to_string())
    );
    let token = first["NextToken"].as_str().unwrap().to_string();
    // Act
    for (action, params) in [
        ("UntagResources", vec![("TagKey.1", "A")]),
        ("UntagResources", vec![("TagKey.1", "T")]),
        (
            "TagResources",
            vec![("Tag.1.Key", "T"), ("Tag.1.Value", "new")],
        ),
    ] {
        let mut call = server
            .call(t, action)
            .region(REGION)
            .param("ResourceType", "keypair")
            .param("ResourceId.1", "kx");
        for (k, v) in params {
            call = call.param(k, v);
        }
        call.send().await.assert_ok();
    }
    let second = list(&server, t)
        .param("TagFilter.1.TagKey", "*")
        .param("NextToken", &token)
        .send()
        .await
        .json();
    // Assert: kx's tags from its first again (B, C, T): C, never listed, is not missed.
    assert_eq!(
        entries(&second),
        triples(&[("kx", "B", "b"), ("kx", "C", "c"), ("kx", "T", "new")])
    );
}

#[tokio::test]
async fn paging_in_xml_shows_next_token_only_on_the_first_page() {
    let server = TestServer::start(42).await;
    let t = "t-list-paging-xml";
    arrange_sixty_entries(&server, t);
    let first = list(&server, t)
        .param("Tag.1.Key", "owner")
        .param("Tag.2.Key", "env")
        .xml()
        .send()
        .await;
    first.assert_ok();
    let token = first.xml_field("NextToken").expect("NextToken element");
    assert_eq!(first.body.matches("<TagResource>").count(), 50);
    assert!(first.body.contains("<TagResources><TagResource><ResourceId>k00</ResourceId><ResourceType>keypair</ResourceType><TagKey>env</TagKey><TagValue>prod</TagValue></TagResource>"), "{}", first.body);
    let second = list(&server, t)
        .param("Tag.1.Key", "owner")
        .param("Tag.2.Key", "env")
        .param("NextToken", &token)
        .xml()
        .send()
        .await;
    second.assert_ok();
    assert_eq!(second.body.matches("<TagResource>").count(), 10);
    assert_eq!(second.xml_field("NextToken"), None);
}

#[tokio::test]
async fn exactly_fifty_entries_fit_one_page_without_a_token() {
    let server = TestServer::start(42).await;
    let t = "t-list-fifty";
    for i in 0..25 {
        insert_key_pair(
            &server,
            t,
            REGION,
            &format!("k{i:02}"),
            &[("a", "1"), ("b", "2")],
        );
    }
    let body = list(&server, t).param("Tag.1.Key", "a").send().await.json();
    assert_eq!(entries(&body).len(), 50);
    assert!(body.get("NextToken").is_none(), "{body}");
}

#[tokio::test]
async fn a_token_is_refused_for_another_query_type_or_tenant_or_when_forged() {
    // Arrange: a valid token for (tenant, Tag.1.Key=env).
    let server = TestServer::start(42).await;
    let t = "t-list-token";
    arrange_sixty_entries(&server, t);
    arrange_sixty_entries(&server, "t-list-token-other");
    let token = list(&server, t)
        .param("Tag.1.Key", "env")
        .send()
        .await
        .json()["NextToken"]
        .as_str()
        .unwrap()
        .to_string();
    let mut forged = token.clone();
    forged.replace_range(31..32, if token.ends_with('0') { "1" } else { "0" });
    let message = "The specified parameter \"NextToken\" is not valid.";
    // Act / Assert
    for (what, call) in [
        (
            "other query",
            list(&server, t)
                .param("Tag.1.Key", "owner")
                .param("NextToken", &token),
        ),
        (
            "other tenant",
            list(&server, "t-list-token-other")
                .param("Tag.1.Key", "env")
                .param("NextToken", &token),
        ),
        (
            // Regression (findings-api2 #1): the checksum left the type out.
            "other resource type",
            server
                .call(t, "ListTagResources")
                .region(REGION)
                .param("ResourceType", "instance")
                .param("Tag.1.Key", "env")
                .param("NextToken", &token),
        ),
        (
            "forged checksum",
            list(&server, t)
                .param("Tag.1.Key", "env")
                .param("NextToken", &forged),
        ),
        (
            "garbage",
            list(&server, t)
                .param("Tag.1.Key", "env")
                .param("NextToken", "caeba0bbb2be03f84eb48b699f0a4883"),
        ),
        (
            "not hex",
            list(&server, t)
                .param("Tag.1.Key", "env")
                .param("NextToken", "next-page"),
        ),
    ] {
        assert_error_in_json_and_xml(what, call, 400, "InvalidParameter", message).await;
    }
    // The genuine token still works, and an empty NextToken means the first page.
    list(&server, t)
        .param("Tag.1.Key", "env")
        .param("NextToken", &token)
        .send()
        .await
        .assert_ok();
    let again = list(&server, t)
        .param("Tag.1.Key", "env")
        .param("NextToken", "")
        .send()
        .await
        .json();
    assert_eq!(again["NextToken"], token.as_str());
}

#[tokio::test]
async fn tag_criteria_are_exact_anded_and_list_every_tag_of_a_matching_key_pair() {
    // Arrange
    let server = TestServer::start(3).await;
    let t = "t-list-tags";
    insert_key_pair(
        &server,
        t,
        REGION,
        "a",
        &[("env", "prod"), ("team", "blue")],
    );
    insert_key_pair(&server, t, REGION, "b", &[("env", "dev"), ("team", "blue")]);
    insert_key_pair(&server, t, REGION, "c", &[("env", "production")]);
    insert_key_pair(&server, t, REGION, "untagged", &[]);
    let a = [("a", "env", "prod"), ("a", "team", "blue")];
    let b = [("b", "env", "dev"), ("b", "team", "blue")];
    let c = [("c", "env", "production")];
    let cases: Vec<(&str, Vec<(&str, &str)>, Vec<(&str, &str, &str)>)> = vec![
        (
            "key and value",
            vec![("Tag.1.Key", "env"), ("Tag.1.Value", "prod")],
            a.to_vec(),
        ),
        (
            "key only matches any value",
            vec![("Tag.1.Key", "env")],
            [a.as_slice(), &b, &c].concat(),
        ),
        (
            "an empty value is like no value",
            vec![("Tag.1.Key", "team"), ("Tag.1.Value", "")],
            [a.as_slice(), &b].concat(),
        ),
        (
            "pairs are ANDed",
            vec![
                ("Tag.1.Key", "team"),
                ("Tag.2.Key", "env"),
                ("Tag.2.Value", "dev"),
            ],
            b.to_vec(),
        ),
        (
            "with resource ids",
            vec![
                ("Tag.1.Key", "team"),
                ("ResourceId.1", "b"),
                ("ResourceId.2", "c"),
            ],
            b.to_vec(),
        ),
        (
            "no match",
            vec![("Tag.1.Key", "env"), ("Tag.1.Value", "Prod")],
            vec![],
        ),
        (
            "ids alone, in creation order",
            vec![
                ("ResourceId.1", "c"),
                ("ResourceId.2", "untagged"),
                ("ResourceId.3", "a"),
            ],
            [a.as_slice(), &c].concat(),
        ),
        (
            "unknown ids list nothing",
            vec![("ResourceId.1", "ghost")],
            vec![],
        ),
    ];
    for (what, params, want) in cases {
        // Act
        let resp = with_params(list(&server, t), &params).send().await;
        // Assert
        resp.assert_ok();
        assert_eq!(entries(&resp.json()), triples(&want), "{what}");
    }
}

#[tokio::test]
async fn tag_filters_match_prefix_contains_suffix_and_exact_patterns() {
    // Arrange
    let server = TestServer::start(3).await;
    let t = "t-list-filters";
    insert_key_pair(&server, t, REGION, "a", &[("env", "prod")]);
    insert_key_pair(&server, t, REGION, "b", &[("environment", "staging")]);
    insert_key_pair(
        &server,
        t,
        REGION,
        "c",
        &[("myenv", "dev"), ("tier", "web")],
    );
    let a = [("a", "env", "prod")];
    let b = [("b", "environment", "staging")];
    let c = [("c", "myenv", "dev"), ("c", "tier", "web")];
    let cases: Vec<(&str, Vec<(&str, &str)>, Vec<(&str, &str, &str)>)> = vec![
        ("exact", vec![("TagFilter.1.TagKey", "env")], a.to_vec()),
        (
            "prefix",
            vec![("TagFilter.1.TagKey", "env*")],
            [a.as_slice(), &b].concat(),
        ),
        (
            "contains",
            vec![("TagFilter.1.TagKey", "*env*")],
            [a.as_slice(), &b, &c].concat(),
        ),
        (
            "suffix",
            vec![("TagFilter.1.TagKey", "*env")],
            [a.as_slice(), &c].concat(),
        ),
        (
            "values are alternatives",
            vec![
                ("TagFilter.1.TagKey", "*env*"),
                ("TagFilter.1.TagValues.1", "prod"),
                ("TagFilter.1.TagValues.2", "st*"),
            ],
            [a.as_slice(), &b].concat(),
        ),
        (
            "filters are ANDed",
            vec![
                ("TagFilter.1.TagKey", "*env*"),
                ("TagFilter.2.TagKey", "tier"),
                ("TagFilter.2.TagValues.1", "w*"),
            ],
            c.to_vec(),
        ),
        (
            "with resource ids",
            vec![("TagFilter.1.TagKey", "*"), ("ResourceId.1", "b")],
            b.to_vec(),
        ),
    ];
    for (what, params, want) in cases {
        // Act
        let resp = with_params(list(&server, t), &params)
            .style(Style::V3)
            .send()
            .await;
        // Assert
        resp.assert_ok();
        assert_eq!(entries(&resp.json()), triples(&want), "{what}");
    }
}

#[tokio::test]
async fn the_acs_rm_rg_id_key_selects_the_key_pairs_of_a_resource_group() {
    // Arrange: `moved` joins rg-team, `stay` remains in the default group.
    let server = TestServer::start(3).await;
    let t = "t-list-rg";
    server
        .app
        .store
        .with_account(t, |a| {
            a.resource_groups.insert("rg-team".into());
        })
        .unwrap();
    insert_key_pair(&server, t, REGION, "moved", &[("env", "prod")]);
    insert_key_pair(&server, t, REGION, "stay", &[("env", "dev")]);
    server
        .call(t, "JoinResourceGroup")
        .region(REGION)
        .param("ResourceGroupId", "rg-team")
        .param("ResourceType", "keypair")
        .param("ResourceId", "moved")
        .send()
        .await
        .assert_ok();
    let default_group = server.app.store.default_resource_group(t).unwrap();
    for (group, want) in [
        ("rg-team", vec![("moved", "env", "prod")]),
        (default_group.as_str(), vec![("stay", "env", "dev")]),
        ("rg-unknown", vec![]),
    ] {
        // Act
        let resp = list(&server, t)
            .param("Tag.1.Key", "acs:rm:rgId")
            .param("Tag.1.Value", group)
            .send()
            .await;
        // Assert
        resp.assert_ok();
        assert_eq!(entries(&resp.json()), triples(&want), "{group}");
    }
}

#[tokio::test]
async fn an_empty_result_is_an_empty_array_in_json_and_an_empty_wrapper_in_xml() {
    let server = TestServer::start(3).await;
    let t = "t-list-empty";
    insert_key_pair(&server, t, REGION, "kp", &[("env", "prod")]);
    for resource_type in ["keypair", "instance"] {
        let call = server
            .call(t, "ListTagResources")
            .region(REGION)
            .param("ResourceType", resource_type)
            .param(
                "ResourceId.1",
                if resource_type == "keypair" {
                    "ghost"
                } else {
                    "kp"
                },
            );
        let body = call.clone().send().await.json();
        assert_eq!(
            body["TagResources"],
            json!({"TagResource": []}),
            "{resource_type}"
        );
        let xml = call.xml().send().await;
        xml.assert_ok();
        assert!(
            xml.body
                .ends_with("<TagResources></TagResources></ListTagResourcesResponse>"),
            "{}",
            xml.body
        );
    }
}

#[tokio::test]
async fn key_pairs_of_other_regions_and_tenants_are_not_listed() {
    let server = TestServer::start(3).await;
    insert_key_pair(&server, "t-list-iso", REGION, "here", &[("env", "a")]);
    insert_key_pair(
        &server,
        "t-list-iso",
        "cn-beijing",
        "there",
        &[("env", "b")],
    );
    insert_key_pair(
        &server,
        "t-list-iso-other",
        REGION,
        "theirs",
        &[("env", "c")],
    );
    let body = list(&server, "t-list-iso")
        .param("Tag.1.Key", "env")
        .send()
        .await
        .json();
    assert_eq!(entries(&body), triples(&[("here", "env", "a")]));
}

/// Appendix A: the Python SDK flattens `tag_filter` and `tag` like this. Both at once is not
/// allowed, so the request is refused naming TagFilter.
#[tokio::test]
async fn the_python_sdk_sample_combining_tag_filter_and_tag_is_refused() {
    let server = TestServer::start(3).await;
    let resp = with_params(
        list(&server, "t-list-sample"),
        &[
            ("TagFilter.1.TagKey", "env"),
            ("TagFilter.1.TagValues.1", "a*"),
            ("TagFilter.1.TagValues.2", "b"),
            ("Tag.1.Key", "k"),
            ("Tag.1.Value", ""),
        ],
    )
    .style(Style::V3)
    .send()
    .await;
    resp.assert_error(400, "InvalidParameter");
    assert_eq!(
        resp.message(),
        "The specified parameter \"TagFilter\" is not valid."
    );
}

/// Every error ListTagResources can produce, with status, code and exact message in JSON and XML.
#[tokio::test]
async fn every_error_has_its_status_code_and_message_in_json_and_xml() {
    let server = TestServer::start(42).await;
    let t = "t-list-errors";
    let base = [("RegionId", REGION), ("ResourceType", "keypair")];
    let with = |extra: Vec<(String, String)>| -> Vec<(String, String)> {
        base.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(extra)
            .collect()
    };
    let p = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let ids51: Vec<(String, String)> = (1..=51)
        .map(|i| (format!("ResourceId.{i}"), format!("k{i}")))
        .collect();
    let tags21: Vec<(String, String)> = (1..=21)
        .map(|i| (format!("Tag.{i}.Key"), format!("k{i}")))
        .collect();
    let long = "k".repeat(129);
    let invalid = |name: &str| format!("The specified parameter \"{name}\" is not valid.");
    let cases: Vec<(&str, Vec<(String, String)>, u16, &str, String)> = vec![
        ("missing region", p(&[("ResourceType", "keypair"), ("ResourceId.1", "k")]),
         404, "MissingParameter.RegionId", "The parameter - RegionId should not be null".into()),
        ("unknown region", p(&[("RegionId", "eu-nowhere-9"), ("ResourceType", "keypair"), ("ResourceId.1", "k")]),
         404, "InvalidRegionId.NotFound", "The specified RegionId does not exist.".into()),
        ("missing type", p(&[("RegionId", REGION), ("ResourceId.1", "k")]),
         404, "MissingParameter.ResourceType", "The parameter - ResourceType should not be null".into()),
        ("unknown type", p(&[("RegionId", REGION), ("ResourceType", "KeyPair"), ("ResourceId.1", "k")]),
         404, "InvalidResourceType.NotFound", "The ResourceType provided does not exist in our records.".into()),
        ("no criterion", with(vec![]),
         400, "MissingParameter", "The input parameter \"ResourceId\" that is mandatory for processing this request is not supplied.".into()),
        ("51 ids", with(ids51),
         400, "NumberExceed.ResourceIds", "The ResourceIds parameter's number is exceed , Valid : 50".into()),
        ("21 tags", with(tags21),
         400, "NumberExceed.Tags", "The Tags parameter's number is exceed , Valid : 20".into()),
        ("value without key", with(p(&[("Tag.1.Value", "v")])),
         400, "InvalidParameter.TagValue", invalid("Tag.N.Value")),
        ("long key", with(p(&[("Tag.1.Key", &long)])),
         400, "InvalidTagKey.Malformed", "The specified Tag.n.Key is not valid.".into()),
        ("long value", with(p(&[("Tag.1.Key", "k"), ("Tag.1.Value", &long)])),
         400, "InvalidTagValue.Malformed", "The specified Tag.n.Value is not valid.".into()),
        ("duplicate key", with(p(&[("Tag.1.Key", "k"), ("Tag.2.Key", "k")])),
         400, "Duplicate.TagKey", "The Tag.N.Key contain duplicate key.".into()),
        ("tag and filter", with(p(&[("Tag.1.Key", "k"), ("TagFilter.1.TagKey", "k")])),
         400, "InvalidParameter", invalid("TagFilter")),
        ("six filters", with(p(&[("TagFilter.6.TagKey", "k")])),
         400, "InvalidParameter", invalid("TagFilter.N")),
        ("filter values without key", with(p(&[("TagFilter.1.TagValues.1", "v")])),
         400, "InvalidParameter", invalid("TagFilter.N.TagKey")),
        ("six filter values", with(p(&[("TagFilter.1.TagKey", "k"), ("TagFilter.1.TagValues.6", "v")])),
         400, "InvalidParameter", invalid("TagFilter.N.TagValues")),
        ("resource group with another tag", with(p(&[("Tag.1.Key", "acs:rm:rgId"), ("Tag.1.Value", "rg-1"), ("Tag.2.Key", "env")])),
         400, "InvalidParameter", invalid("Tag.N.Key")),
        ("resource group without a value", with(p(&[("Tag.1.Key", "acs:rm:rgId")])),
         400, "InvalidParameter.TagValue", invalid("Tag.N.Value")),
        ("bad token", with(p(&[("ResourceId.1", "k"), ("NextToken", "zzz")])),
         400, "InvalidParameter", invalid("NextToken")),
    ];
    for (what, params, status, code, message) in cases {
        let mut call = server.call(t, "ListTagResources");
        for (k, v) in &params {
            call = call.param(k, v);
        }
        assert_error_in_json_and_xml(what, call, status, code, &message).await;
    }
}

#[tokio::test]
async fn snapshots_of_pages_and_error_bodies() {
    let server = TestServer::start(42).await;
    let t = "snap-list";
    insert_key_pair(
        &server,
        t,
        REGION,
        "web",
        &[("env", "prod"), ("team", "blue")],
    );
    insert_key_pair(&server, t, REGION, "db", &[("env", "prod")]);
    for i in 0..24 {
        insert_key_pair(
            &server,
            t,
            REGION,
            &format!("bulk{i:02}"),
            &[("env", "test"), ("n", &i.to_string())],
        );
    }
    let settings = snapshot_settings();
    let small = list(&server, t)
        .param("Tag.1.Key", "env")
        .param("Tag.1.Value", "prod")
        .send()
        .await;
    settings.bind(|| insta::assert_json_snapshot!("list_tag_resources_success_json", small.json()));
    let small_xml = list(&server, t)
        .param("Tag.1.Key", "env")
        .param("Tag.1.Value", "prod")
        .xml()
        .send()
        .await;
    settings.bind(|| insta::assert_snapshot!("list_tag_resources_success_xml", small_xml.body));
    let first = list(&server, t)
        .param("TagFilter.1.TagKey", "env")
        .send()
        .await
        .json();
    let token = first["NextToken"].as_str().unwrap().to_string();
    settings.bind(|| insta::assert_json_snapshot!("list_tag_resources_first_page_json", first));
    let last = list(&server, t)
        .param("TagFilter.1.TagKey", "env")
        .param("NextToken", &token)
        .send()
        .await;
    settings
        .bind(|| insta::assert_json_snapshot!("list_tag_resources_last_page_json", last.json()));
    let errors: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "list_tag_resources_error_no_criterion",
            vec![("RegionId", REGION), ("ResourceType", "keypair")],
        ),
        (
            "list_tag_resources_error_value_without_key",
            vec![
                ("RegionId", REGION),
                ("ResourceType", "keypair"),
                ("Tag.1.Value", "v"),
            ],
        ),
        (
            "list_tag_resources_error_bad_token",
            vec![
                ("RegionId", REGION),
                ("ResourceType", "keypair"),
                ("ResourceId.1", "web"),
                ("NextToken", "caeba0bbb2be03f84eb48b699f0a4883"),
            ],
        ),
    ];
    for (name, params) in errors {
        let call = with_params(server.call(t, "ListTagResources"), &params);
        let json = call.clone().send().await;
        settings.bind(|| insta::assert_json_snapshot!(format!("{name}_json"), json.json()));
        let xml = call.xml().send().await;
        settings.bind(|| insta::assert_snapshot!(format!("{name}_xml"), xml.body));
    }
}
