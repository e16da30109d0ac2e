"""The cases both Python suites run, written against a small driver interface so that each SDK
is exercised through its own public API (see suite_v2.py and suite_legacy.py for the drivers).

A driver turns each action into one SDK call and returns the response body as a dict with the
wire's field names: py-v2 through its typed model (`resp.body.to_map()`, which is `None`-safe
only if the typed mapping worked), py-legacy by decoding the raw bytes it returns. Errors go
through `driver.expect_error(call, code)`, which asserts everything that SDK exposes.

Every case uses its own AccessKeyId (its own account), except the ones that need fixture
instances or resource groups, which share the driver's fixture account with distinct names.
"""

import base64
import json

from common import (
    BEIJING,
    CREATION_TIME,
    FINGERPRINT,
    FIXTURE_GROUPS,
    KEY_PAIR_ID,
    LINUX_RUNNING,
    LINUX_STOPPED,
    REGIONS_EN,
    REQUEST_ID,
    RESULT_NO_INSTANCE,
    RESULT_NOT_ATTACHED,
    RESULT_OK,
    WINDOWS,
    check_private_key,
    eq,
    expect,
    md5_fingerprint,
)


def names_of(body):
    return [k["KeyPairName"] for k in body["KeyPairs"]["KeyPair"]]


def key_part(line):
    """`type base64` of an OpenSSH public key line (the comment is not part of the key)."""
    return " ".join(line.split()[:2])


def check_request_id(body):
    expect(REQUEST_ID.match(str(body.get("RequestId"))), f"RequestId {body.get('RequestId')!r}")


def register(suite, drv, keys):
    """Adds the success-path and error cases for driver `drv`; `keys` is a common.SshKeys."""
    label = drv.label
    fx = drv.fixture_tenant

    def case(name, xfail=None):
        return suite.case(f"{label}: {name}", xfail=xfail)

    # ----------------------------------------------------------------------------- success path

    @case("CreateKeyPair returns an RSA-2048 PKCS#8 key whose fingerprint is the MD5 of its SSH blob")
    def _():
        body = drv.create(drv.tenant("create"), "sdk-create")
        eq(sorted(body), ["KeyPairFingerPrint", "KeyPairId", "KeyPairName", "PrivateKeyBody", "RequestId"], "fields")
        check_request_id(body)
        eq(body["KeyPairName"], "sdk-create", "KeyPairName")
        expect(KEY_PAIR_ID.match(body["KeyPairId"]), f"KeyPairId {body['KeyPairId']!r}")
        expect(FINGERPRINT.match(body["KeyPairFingerPrint"]), f"fingerprint {body['KeyPairFingerPrint']!r}")
        _, fingerprint = check_private_key(body["PrivateKeyBody"])
        eq(body["KeyPairFingerPrint"], fingerprint, "fingerprint vs MD5 of the derived public blob")

    @case("DescribeKeyPairs returns the created key's public key, fingerprint, group, time and tags")
    def _():
        ak = drv.tenant("describe-one")
        created = drv.create(ak, "sdk-described", tags=[("env", "ci"), ("team", "sdk conformance")])
        line, _ = check_private_key(created["PrivateKeyBody"])
        body = drv.describe(ak, name="sdk-described", include_public_key=True)
        check_request_id(body)
        eq((body["TotalCount"], body["PageNumber"], body["PageSize"]), (1, 1, 10), "TotalCount, PageNumber, PageSize")
        eq(len(body["KeyPairs"]["KeyPair"]), 1, "number of key pairs")
        kp = body["KeyPairs"]["KeyPair"][0]
        eq(kp["KeyPairName"], "sdk-described", "KeyPairName")
        eq(kp["KeyPairFingerPrint"], created["KeyPairFingerPrint"], "fingerprint")
        eq(key_part(kp["PublicKey"]), key_part(line), "PublicKey vs the private key's public half")
        blob = base64.b64decode(kp["PublicKey"].split()[1])
        eq(md5_fingerprint(blob), created["KeyPairFingerPrint"], "MD5 of the PublicKey blob")
        expect(CREATION_TIME.match(kp["CreationTime"]), f"CreationTime {kp['CreationTime']!r}")
        expect(kp["ResourceGroupId"].startswith("rg-"), f"ResourceGroupId {kp['ResourceGroupId']!r}")
        eq(
            kp["Tags"]["Tag"],
            [{"TagKey": "env", "TagValue": "ci"}, {"TagKey": "team", "TagValue": "sdk conformance"}],
            "Tags.Tag",
        )
        plain = drv.describe(ak, name="sdk-described")["KeyPairs"]["KeyPair"][0]
        expect("PublicKey" not in plain, "PublicKey present without IncludePublicKey")

    for kind in ("rsa", "ecdsa"):

        @case(f"ImportKeyPair of an ssh-keygen {kind} key reports ssh-keygen's MD5 fingerprint")
        def _(kind=kind):
            ak = drv.tenant(f"import-{kind}")
            public, fingerprint = keys.get(kind)
            body = drv.import_key(ak, f"sdk-imported-{kind}", public)
            eq(sorted(body), ["KeyPairFingerPrint", "KeyPairName", "RequestId"], "fields")
            check_request_id(body)
            eq(body["KeyPairName"], f"sdk-imported-{kind}", "KeyPairName")
            eq(body["KeyPairFingerPrint"], fingerprint, "fingerprint vs ssh-keygen -l -E md5")
            found = drv.describe(ak, fingerprint=fingerprint, include_public_key=True)
            eq(names_of(found), [f"sdk-imported-{kind}"], "DescribeKeyPairs by fingerprint")
            eq(key_part(found["KeyPairs"]["KeyPair"][0]["PublicKey"]), key_part(public), "PublicKey")

    @case("DescribeKeyPairs pages 7 matches as 3+3+1 with TotalCount 7 on every page, in creation order")
    def _():
        ak = drv.tenant("paging")
        names = [f"sdk-page-{i}" for i in range(1, 8)]
        for n in names:
            drv.create(ak, n)
        drv.create(ak, "sdk-other")
        seen = []
        for page, size in ((1, 3), (2, 3), (3, 1), (4, 0)):
            body = drv.describe(ak, name="sdk-page-*", page_number=page, page_size=3)
            eq((body["TotalCount"], body["PageNumber"], body["PageSize"]), (7, page, 3), f"page {page} totals")
            eq(len(body["KeyPairs"]["KeyPair"]), size, f"page {page} size")
            seen += names_of(body)
        eq(seen, names, "names over all pages")
        everything = drv.describe(ak)
        eq((everything["TotalCount"], everything["PageNumber"], everything["PageSize"]), (8, 1, 10), "defaults")
        eq(names_of(everything), names + ["sdk-other"], "unfiltered listing")

    @case("DeleteKeyPairs removes the named key pairs and ignores unknown names")
    def _():
        ak = drv.tenant("delete")
        for n in ("sdk-del-a", "sdk-del-b", "sdk-keep"):
            drv.create(ak, n)
        body = drv.delete(ak, json.dumps(["sdk-del-a", "sdk-del-b", "sdk-never-existed"]))
        eq(sorted(body), ["RequestId"], "fields")
        check_request_id(body)
        eq(names_of(drv.describe(ak)), ["sdk-keep"], "remaining key pairs")

    @case("AttachKeyPair and DetachKeyPair report per-instance results")
    def _():
        name = "sdk-attach"
        drv.create(fx, name)
        ids = [LINUX_RUNNING, LINUX_STOPPED, "i-sdkfx-no-such-instance", BEIJING]
        body = drv.attach(fx, name, json.dumps(ids))
        check_request_id(body)
        eq(body["KeyPairName"], name, "KeyPairName")
        eq((body["TotalCount"], body["FailCount"]), ("4", "2"), "TotalCount, FailCount")
        results = {r["InstanceId"]: {k: v for k, v in r.items() if k != "InstanceId"} for r in body["Results"]["Result"]}
        eq(
            results,
            {
                LINUX_RUNNING: RESULT_OK,
                LINUX_STOPPED: RESULT_OK,
                "i-sdkfx-no-such-instance": RESULT_NO_INSTANCE,
                BEIJING: RESULT_NO_INSTANCE,  # another region's instance is not found here
            },
            "attach results",
        )
        body = drv.detach(fx, name, json.dumps([LINUX_RUNNING]))
        eq((body["TotalCount"], body["FailCount"]), ("1", "0"), "detach TotalCount, FailCount")
        eq(body["Results"]["Result"], [dict(InstanceId=LINUX_RUNNING, **RESULT_OK)], "detach results")
        body = drv.detach(fx, name, json.dumps([LINUX_RUNNING, LINUX_STOPPED]))
        eq((body["TotalCount"], body["FailCount"]), ("2", "1"), "second detach counts")
        eq(
            body["Results"]["Result"],
            [dict(InstanceId=LINUX_RUNNING, **RESULT_NOT_ATTACHED), dict(InstanceId=LINUX_STOPPED, **RESULT_OK)],
            "second detach results",
        )
        drv.delete(fx, json.dumps([name]))  # nothing attached any more, so this succeeds

    @case("DescribeRegions with AcceptLanguage=en-US lists the 27 documented regions and endpoints")
    def _():
        body = drv.regions(drv.tenant("regions"), "en-US")
        check_request_id(body)
        got = [(r["RegionId"], r["LocalName"], r["RegionEndpoint"]) for r in body["Regions"]["Region"]]
        eq(got, [tuple(r) for r in REGIONS_EN], "regions")
        eq({r["Status"] for r in body["Regions"]["Region"]}, {"available"}, "Status values")

    @case("DescribeRegions defaults to zh-CN names and answers ja in Japanese")
    def _():
        ak = drv.tenant("regions-lang")
        default = drv.regions(ak)["Regions"]["Region"]
        zh = drv.regions(ak, "zh-CN")["Regions"]["Region"]
        ja = drv.regions(ak, "ja")["Regions"]["Region"]
        eq(default, zh, "default language vs zh-CN")
        ids = [r[0] for r in REGIONS_EN]
        eq([r["RegionId"] for r in zh], ids, "zh-CN region ids")
        eq([r["RegionId"] for r in ja], ids, "ja region ids")
        by_id = {r["RegionId"]: r["LocalName"] for r in zh}
        eq(by_id["cn-hangzhou"], "华东1（杭州）", "zh-CN name of cn-hangzhou (current console form)")
        english = {r[0]: r[1] for r in REGIONS_EN}
        for zr, jr in zip(zh, ja):
            rid = zr["RegionId"]
            expect(zr["LocalName"] != english[rid], f"zh-CN name of {rid} is the English one")
            expect(jr["LocalName"] not in (english[rid], zr["LocalName"]), f"ja name of {rid} is not Japanese")

    @case("TagResources, ListTagResources and UntagResources round-trip tags on two key pairs")
    def _():
        ak = drv.tenant("tags")
        drv.create(ak, "sdk-tag-a")
        drv.create(ak, "sdk-tag-b")
        drv.create(ak, "sdk-tag-none")
        body = drv.tag(ak, ["sdk-tag-a", "sdk-tag-b"], [("env", "prod"), ("owner", "sdk-suite")])
        eq(sorted(body), ["RequestId"], "TagResources fields")
        check_request_id(body)

        def listing(**kw):
            out = drv.list_tags(ak, **kw)
            check_request_id(out)
            expect("NextToken" not in out or not out["NextToken"], f"unexpected NextToken {out.get('NextToken')!r}")
            return sorted(
                (t["ResourceId"], t["ResourceType"], t["TagKey"], t["TagValue"]) for t in out["TagResources"]["TagResource"]
            )

        both = [
            ("sdk-tag-a", "keypair", "env", "prod"),
            ("sdk-tag-a", "keypair", "owner", "sdk-suite"),
            ("sdk-tag-b", "keypair", "env", "prod"),
            ("sdk-tag-b", "keypair", "owner", "sdk-suite"),
        ]
        eq(listing(ids=["sdk-tag-a", "sdk-tag-b", "sdk-tag-none"]), both, "ListTagResources by ResourceId")
        eq(listing(tags=[("env", "prod")]), both, "ListTagResources by Tag")
        tagged = drv.describe(ak, tags=[("owner", "sdk-suite")])
        eq(names_of(tagged), ["sdk-tag-a", "sdk-tag-b"], "DescribeKeyPairs by Tag")
        eq(
            tagged["KeyPairs"]["KeyPair"][0]["Tags"]["Tag"],
            [{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "owner", "TagValue": "sdk-suite"}],
            "Tags.Tag of sdk-tag-a",
        )
        eq(drv.describe(ak, name="sdk-tag-none")["KeyPairs"]["KeyPair"][0]["Tags"]["Tag"], [], "untagged Tags.Tag")

        drv.tag(ak, ["sdk-tag-a"], [("env", "staging")])  # overwrites the value
        body = drv.untag(ak, ["sdk-tag-b"], keys=["owner"])
        eq(sorted(body), ["RequestId"], "UntagResources fields")
        eq(
            listing(ids=["sdk-tag-a", "sdk-tag-b"]),
            [
                ("sdk-tag-a", "keypair", "env", "staging"),
                ("sdk-tag-a", "keypair", "owner", "sdk-suite"),
                ("sdk-tag-b", "keypair", "env", "prod"),
            ],
            "after overwrite and untag",
        )
        drv.untag(ak, ["sdk-tag-a", "sdk-tag-b"], all_=True)
        eq(listing(ids=["sdk-tag-a", "sdk-tag-b"]), [], "after UntagResources All=true")

    @case("JoinResourceGroup moves a key pair into a fixture resource group")
    def _():
        name = "sdk-join"
        drv.create(fx, name)
        before = drv.describe(fx, name=name)["KeyPairs"]["KeyPair"][0]["ResourceGroupId"]
        expect(before not in FIXTURE_GROUPS, f"new key pair already in a fixture group {before!r}")
        body = drv.join(fx, FIXTURE_GROUPS[1], name)
        eq(sorted(body), ["RequestId"], "fields")
        check_request_id(body)
        eq(drv.describe(fx, name=name)["KeyPairs"]["KeyPair"][0]["ResourceGroupId"], FIXTURE_GROUPS[1], "group after join")
        # The default group's key pairs are listed whatever the group filter (reference
        # §7.11), hence the name filter.
        eq(names_of(drv.describe(fx, rg=FIXTURE_GROUPS[1], name=name)), [name], "DescribeKeyPairs by the new group")
        eq(names_of(drv.describe(fx, rg=before, name=name)), [], "DescribeKeyPairs by the old group")
        drv.delete(fx, json.dumps([name]))

    @case("CreateKeyPair with a fixture ResourceGroupId puts the key pair in that group")
    def _():
        name = "sdk-create-in-group"
        drv.create(fx, name, rg=FIXTURE_GROUPS[0])
        eq(drv.describe(fx, name=name)["KeyPairs"]["KeyPair"][0]["ResourceGroupId"], FIXTURE_GROUPS[0], "group")
        drv.delete(fx, json.dumps([name]))

    @case("names and tag values with spaces, reserved and non-ASCII characters survive signing and round-trip")
    def _():
        # The SDKs encode these differently on the wire (wire doc §1: `+` vs `%20`, raw vs
        # percent-encoded `*!'()`); the server must verify the signature of each and decode alike.
        ak = drv.tenant("charset")
        name = "密钥-ключ:key_1.a"
        tags = [("team name", "a b+c*d~e!f'g(h)i"), ("ünïcødé/键", "值 & = ? # % 100%"), ("empty", "")]
        body = drv.create(ak, name, tags=tags)
        eq(body["KeyPairName"], name, "KeyPairName")
        kp = drv.describe(ak, name=name)["KeyPairs"]["KeyPair"]
        eq([k["KeyPairName"] for k in kp], [name], "DescribeKeyPairs by the exact name")
        eq(kp[0]["Tags"]["Tag"], [{"TagKey": k, "TagValue": v} for k, v in tags], "Tags.Tag")
        eq(names_of(drv.describe(ak, tags=[tags[1]])), [name], "DescribeKeyPairs by a non-ASCII tag")

    # ----------------------------------------------------------------------------------- errors

    @case("CreateKeyPair of an existing name fails with KeyPair.AlreadyExist")
    def _():
        ak = drv.tenant("dup")
        drv.create(ak, "sdk-dup")
        drv.expect_error(lambda: drv.create(ak, "sdk-dup"), "KeyPair.AlreadyExist")

    @case("ImportKeyPair of an existing name fails with KeyPair.AlreadyExist")
    def _():
        ak = drv.tenant("dup-import")
        public, _ = keys.get("rsa")
        drv.import_key(ak, "sdk-dup", public)
        drv.expect_error(lambda: drv.import_key(ak, "sdk-dup", public), "KeyPair.AlreadyExist")

    for bad in ("1-starts-with-a-digit", "x", "http://sdk-key", "has space"):

        @case(f"CreateKeyPair named {bad!r} fails with InvalidKeyPairName.Malformed")
        def _(bad=bad):
            drv.expect_error(lambda: drv.create(drv.tenant("malformed"), bad), "InvalidKeyPairName.Malformed")

    @case("ImportKeyPair with a malformed name fails with InvalidKeyPairName.Malformed")
    def _():
        public, _ = keys.get("rsa")
        drv.expect_error(
            lambda: drv.import_key(drv.tenant("malformed-import"), "-dash-first", public), "InvalidKeyPairName.Malformed"
        )

    @case("CreateKeyPair in an unknown region fails with InvalidRegionId.NotFound")
    def _():
        drv.expect_error(
            lambda: drv.create(drv.tenant("region"), "sdk-region", region="cn-atlantis"), "InvalidRegionId.NotFound"
        )

    for what, text in (
        ("garbage", "this is not a public key"),
        ("bad base64", "ssh-rsa AAAA!!!notbase64 x"),
        ("ed25519 (not a documented type)", None),
    ):

        @case(f"ImportKeyPair of {what} fails with InvalidPublicKeyBody.Malformed")
        def _(text=text):
            body = text if text is not None else keys.get("ed25519")[0]
            drv.expect_error(
                lambda: drv.import_key(drv.tenant("bad-public"), "sdk-bad-public", body), "InvalidPublicKeyBody.Malformed"
            )

    for what, names in (("a comma list", "sdk-a,sdk-b"), ("an empty array", "[]"), ("a JSON object", '{"a":1}')):

        @case(f"DeleteKeyPairs with {what} fails with InvalidKeyPairNames.ValueNotSupported")
        def _(names=names):
            drv.expect_error(lambda: drv.delete(drv.tenant("bad-names"), names), "InvalidKeyPairNames.ValueNotSupported")

    @case("the 501st key pair of a region fails with QuotaExceed.KeyPair; other regions are not affected")
    def _():
        ak = drv.tenant("quota")
        public, _ = keys.get("rsa")
        for i in range(500):  # imports: no key generation, so this stays fast
            drv.import_key(ak, f"sdk-q-{i}", public)
        drv.expect_error(lambda: drv.create(ak, "sdk-q-over"), "QuotaExceed.KeyPair")
        drv.expect_error(lambda: drv.import_key(ak, "sdk-q-over", public), "QuotaExceed.KeyPair")
        drv.create(ak, "sdk-q-elsewhere", region="cn-beijing")
        drv.delete(ak, json.dumps(["sdk-q-0"]))
        eq(drv.create(ak, "sdk-q-over")["KeyPairName"], "sdk-q-over", "create after freeing one unit")

    @case("AttachKeyPair to a Windows instance fails with DependencyViolation.WindowsInstance")
    def _():
        drv.create(fx, "sdk-win")
        drv.expect_error(
            lambda: drv.attach(fx, "sdk-win", json.dumps([LINUX_RUNNING, WINDOWS])), "DependencyViolation.WindowsInstance"
        )
        drv.delete(fx, json.dumps(["sdk-win"]))  # the whole request failed: nothing was attached

    @case("AttachKeyPair of an unknown key pair fails with InvalidKeyPairName.NotFound")
    def _():
        drv.expect_error(lambda: drv.attach(fx, "sdk-no-such-key", json.dumps([LINUX_RUNNING])), "InvalidKeyPairName.NotFound")

    @case("DeleteKeyPairs of an attached key pair fails with InvalidParameter.KeypairAlreadyAttachedInstance")
    def _():
        drv.create(fx, "sdk-attached")
        drv.attach(fx, "sdk-attached", json.dumps([LINUX_STOPPED]))
        drv.expect_error(lambda: drv.delete(fx, json.dumps(["sdk-attached"])), "InvalidParameter.KeypairAlreadyAttachedInstance")
        drv.detach(fx, "sdk-attached", json.dumps([LINUX_STOPPED]))
        drv.delete(fx, json.dumps(["sdk-attached"]))

    @case("JoinResourceGroup to an unknown group fails with InvalidResourceGroup.NotFound")
    def _():
        ak = drv.tenant("join-unknown")
        drv.create(ak, "sdk-join-unknown")
        drv.expect_error(lambda: drv.join(ak, "rg-doesnotexist0001", "sdk-join-unknown"), "InvalidResourceGroup.NotFound")

    @case("TagResources of an unknown key pair fails with InvalidResourceId.NotFound")
    def _():
        drv.expect_error(
            lambda: drv.tag(drv.tenant("tag-unknown"), ["sdk-nothing"], [("k", "v")]), "InvalidResourceId.NotFound"
        )

    @case("DescribeRegions with AcceptLanguage=fr (a newer SDK value) answers with the English names")
    def _():
        ak = drv.tenant("lang")
        eq(drv.regions(ak, "fr")["Regions"], drv.regions(ak, "en-US")["Regions"], "Regions")

    @case("DescribeRegions with AcceptLanguage=es fails with InvalidAcceptLanguage.NotFound")
    def _():
        drv.expect_error(lambda: drv.regions(drv.tenant("lang"), "es"), "InvalidAcceptLanguage.NotFound")
