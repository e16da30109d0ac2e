"""py-v2 suite: alibabacloud-ecs20140526 (Tea OpenAPI) against a fresh ecs-mock, once with
its default V3 signatures and once with `signature_algorithm='v2'` (V1), plus the auth checks,
the raw signed requests for timestamps and nonces, every forced error of CreateKeyPair and the
common gateway errors, and its section of docs/sdk-conformance.md (conformance.py).

Run: tests/sdk/.venv-py-v2/bin/python tests/sdk/py/suite_v2.py   (after tests/sdk/run.sh set
the venv up and built target/release/ecs-mock; ECS_MOCK_BIN overrides the binary).
"""

import asyncio
import re
import sys
import uuid

from alibabacloud_ecs20140526 import models as m
from alibabacloud_ecs20140526.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from alibabacloud_tea_openapi.models import Config
from darabonba.exceptions import UnretryableException

import cases
import conformance
from common import (
    MESSAGES,
    REGION,
    REQUEST_ID,
    SECRET,
    SIGNATURE_MISMATCH_PREFIX,
    STATUS,
    Check,
    Mock,
    SshKeys,
    Suite,
    check_raw_error,
    eq,
    expect,
    raw_v1,
    raw_v3,
    utc_stamp,
)

SEED = 5


class Driver:
    """Each action as one py-v2 call; bodies come back through the typed model's to_map()."""

    def __init__(self, endpoint, signature_algorithm=None, secret=SECRET):
        self.endpoint = endpoint
        self.secret = secret
        self.signature_algorithm = signature_algorithm
        v1 = signature_algorithm == "v2"
        self.label = "py-v2 V1" if v1 else "py-v2 V3"
        self.prefix = "pyv2-v1" if v1 else "pyv2-v3"
        self.fixture_tenant = "sdk-fx-v1" if v1 else "sdk-fx-v3"
        self.clients = {}

    def tenant(self, suffix):
        return f"{self.prefix}-{suffix}"

    def client(self, ak):
        if ak not in self.clients:
            config = Config(
                access_key_id=ak,
                access_key_secret=self.secret,
                endpoint=self.endpoint,
                protocol="http",
                region_id=REGION,
            )
            if self.signature_algorithm:
                config.signature_algorithm = self.signature_algorithm
            self.clients[ak] = Client(config)
        return self.clients[ak]

    @staticmethod
    def body(resp):
        expect(resp.status_code == 200, f"HTTP status {resp.status_code}")
        # A body of the wrong shape maps silently to None in py-v2 (wire doc §3.1).
        expect(resp.body is not None, "typed body is None: the JSON did not fit the SDK model")
        return resp.body.to_map()

    def create(self, ak, name, region=REGION, tags=None, rg=None):
        tag = [m.CreateKeyPairRequestTag(key=k, value=v) for k, v in tags] if tags else None
        req = m.CreateKeyPairRequest(region_id=region, key_pair_name=name, tag=tag, resource_group_id=rg)
        resp = self.client(ak).create_key_pair(req)
        # The typed attributes, not only the map: this is what SDK users read.
        b = resp.body
        if b is not None:
            expect(b.private_key_body == b.to_map().get("PrivateKeyBody"), "typed private_key_body")
        return self.body(resp)

    def import_key(self, ak, name, public_key, region=REGION, tags=None):
        tag = [m.ImportKeyPairRequestTag(key=k, value=v) for k, v in tags] if tags else None
        req = m.ImportKeyPairRequest(region_id=region, key_pair_name=name, public_key_body=public_key, tag=tag)
        return self.body(self.client(ak).import_key_pair(req))

    def describe(self, ak, region=REGION, name=None, fingerprint=None, page_number=None, page_size=None,
                 include_public_key=None, rg=None, tags=None):
        tag = [m.DescribeKeyPairsRequestTag(key=k, value=v) for k, v in tags] if tags else None
        req = m.DescribeKeyPairsRequest(
            region_id=region, key_pair_name=name, key_pair_finger_print=fingerprint, page_number=page_number,
            page_size=page_size, include_public_key=include_public_key, resource_group_id=rg, tag=tag,
        )
        resp = self.client(ak).describe_key_pairs(req)
        b = resp.body
        if b is not None:
            # Typed access: integers stay integers, the list is a list of typed items.
            expect(isinstance(b.total_count, int), f"typed total_count {b.total_count!r}")
            expect(isinstance(b.key_pairs.key_pair, list), "typed key_pairs.key_pair is not a list")
        return self.body(resp)

    def delete(self, ak, names_json, region=REGION):
        return self.body(self.client(ak).delete_key_pairs(m.DeleteKeyPairsRequest(region_id=region, key_pair_names=names_json)))

    def attach(self, ak, name, ids_json, region=REGION):
        req = m.AttachKeyPairRequest(region_id=region, key_pair_name=name, instance_ids=ids_json)
        return self.body(self.client(ak).attach_key_pair(req))

    def detach(self, ak, name, ids_json, region=REGION):
        req = m.DetachKeyPairRequest(region_id=region, key_pair_name=name, instance_ids=ids_json)
        return self.body(self.client(ak).detach_key_pair(req))

    def regions(self, ak, lang=None):
        return self.body(self.client(ak).describe_regions(m.DescribeRegionsRequest(accept_language=lang)))

    def tag(self, ak, ids, tags, region=REGION):
        req = m.TagResourcesRequest(
            region_id=region, resource_type="keypair", resource_id=ids,
            tag=[m.TagResourcesRequestTag(key=k, value=v) for k, v in tags],
        )
        return self.body(self.client(ak).tag_resources(req))

    def untag(self, ak, ids, keys=None, all_=None, region=REGION):
        req = m.UntagResourcesRequest(region_id=region, resource_type="keypair", resource_id=ids, tag_key=keys, all=all_)
        return self.body(self.client(ak).untag_resources(req))

    def list_tags(self, ak, ids=None, tags=None, next_token=None, region=REGION):
        tag = [m.ListTagResourcesRequestTag(key=k, value=v) for k, v in tags] if tags else None
        req = m.ListTagResourcesRequest(
            region_id=region, resource_type="keypair", resource_id=ids, tag=tag, next_token=next_token
        )
        return self.body(self.client(ak).list_tag_resources(req))

    def join(self, ak, rg, name, region=REGION):
        req = m.JoinResourceGroupRequest(region_id=region, resource_group_id=rg, resource_id=name, resource_type="keypair")
        return self.body(self.client(ak).join_resource_group(req))

    @staticmethod
    def request_id_of(e):
        return e.request_id

    def expect_error(self, call, code, status=None, message=None):
        """The call must raise what wire doc §3.2 says py-v2 raises for a JSON error body."""
        status = status or STATUS[code]
        message = message if message is not None else MESSAGES[code]
        try:
            call()
        except (ClientException, ServerException) as e:
            check_exception(e, code, status, message)
            return e
        raise Check(f"no exception; expected {code}")


class FaultDriver:
    """The fault table's calls: V3, short timeouts, one client per row."""

    label = "py-v2 V3"

    @staticmethod
    def tenant(suffix):
        return f"pyv2-v3-{suffix}"

    @staticmethod
    def client(endpoint, ak):
        return Client(
            Config(
                access_key_id=ak,
                access_key_secret=SECRET,
                endpoint=endpoint,
                protocol="http",
                region_id=REGION,
                read_timeout=conformance.READ_TIMEOUT_MS,
                connect_timeout=conformance.CONNECT_TIMEOUT_MS,
            )
        )

    @staticmethod
    def warm(client):
        Driver.body(client.describe_regions(m.DescribeRegionsRequest()))

    @staticmethod
    def call(client, action, name):
        if action == "CreateKeyPair":
            resp = client.create_key_pair(m.CreateKeyPairRequest(region_id=REGION, key_pair_name=name))
        else:
            resp = client.describe_key_pairs(m.DescribeKeyPairsRequest(region_id=REGION))
        if resp.body is None:
            return "typed body is None", None
        return "typed body", resp.body.request_id

    @staticmethod
    def observe(e):
        # ThrottlingException (an x-acs-retry-after header) carries the status and RequestId
        # too; it fell through to "lost" and skipped the RequestId check.
        if isinstance(e, (ClientException, ServerException, ThrottlingException)):
            return type(e).__name__, e.code, str(e.status_code), e.request_id, "-"
        if isinstance(e, UnretryableException):
            inner = e.inner_exception
            name = f"UnretryableException ({type(inner).__name__})"
            return name, e.code or "-", "lost", None, conformance.summarize(e.message)
        return type(e).__name__, getattr(e, "code", None) or "-", "lost", None, conformance.summarize(e)

    @staticmethod
    def before_call():
        pass


def check_exception(e, code, status, message, message_check=None):
    cls = ServerException if status >= 500 else ClientException
    eq(type(e), cls, "exception class")
    eq(e.name, cls.__name__, ".name")
    eq(e.code, code, ".code")
    eq(e.status_code, status, ".status_code")
    eq(e.statusCode, status, ".statusCode")
    rid = e.request_id
    expect(REQUEST_ID.match(str(rid)), f".request_id {rid!r}")
    data = e.data
    eq(sorted(data), ["Code", "HostId", "Message", "Recommend", "RequestId", "statusCode"], ".data keys")
    eq((data["Code"], data["RequestId"], data["statusCode"]), (code, rid, status), ".data Code, RequestId, statusCode")
    eq(
        data["Recommend"],
        f"https://api.aliyun.com/troubleshoot?q={code}&product=Ecs&requestId={rid}",
        ".data Recommend",
    )
    expect(str(data["HostId"]).endswith(".aliyuncs.com"), f".data HostId {data['HostId']!r}")
    if message_check:
        message_check(data["Message"])
    else:
        eq(data["Message"], message, ".data Message")
    eq(e.message, f"code: {status}, {data['Message']} request id: {rid}", ".message")
    eq((e.description, e.detail), ("None", "None"), ".description, .detail")


def register_auth(suite, endpoint, label, signature_algorithm):
    """Against a server started with --credential sdk-known:known-secret."""

    def case(name):
        return suite.case(f"{label}: {name}")

    def drv(secret=SECRET):
        return Driver(endpoint, signature_algorithm, secret)

    @case("with --credential, the configured AccessKeyId and secret succeed")
    def _():
        d = drv("known-secret")
        body = d.regions("sdk-known", "en-US")
        eq(len(body["Regions"]["Region"]), 27, "regions")

    @case("with --credential, an unknown AccessKeyId fails with InvalidAccessKeyId.NotFound")
    def _():
        d = drv()
        d.expect_error(lambda: d.regions("sdk-unknown", "en-US"), "InvalidAccessKeyId.NotFound")

    @case("a wrong secret fails with SignatureDoesNotMatch quoting the server's string to sign")
    def _():
        d = drv("wrong-secret")
        if signature_algorithm == "v2":
            rest = r"POST&%2F&\S+"
        else:
            rest = "ACS3-HMAC-SHA256\n[0-9a-f]{64}"

        def message_check(msg):
            expect(msg.startswith(SIGNATURE_MISMATCH_PREFIX), f"message {msg!r}")
            expect(re.fullmatch(rest, msg[len(SIGNATURE_MISMATCH_PREFIX):]), f"string to sign in {msg!r}")

        try:
            d.regions("sdk-known", "en-US")
        except (ClientException, ServerException) as e:
            check_exception(e, "SignatureDoesNotMatch", 400, None, message_check)
        else:
            raise Check("no exception")


def register_async(suite, drv):
    """The *_async methods go through aiohttp, which sends what the sync ones do plus an
    unsigned `Content-Type: application/octet-stream` on empty bodies."""

    @suite.case(f"{drv.label}: the async calls create, describe and delete like the sync ones")
    def _():
        client = drv.client(drv.tenant("async"))

        async def flow():
            created = await client.create_key_pair_async(
                m.CreateKeyPairRequest(region_id=REGION, key_pair_name="sdk-async")
            )
            listed = await client.describe_key_pairs_async(
                m.DescribeKeyPairsRequest(region_id=REGION, key_pair_name="sdk-async")
            )
            await client.delete_key_pairs_async(
                m.DeleteKeyPairsRequest(region_id=REGION, key_pair_names='["sdk-async"]')
            )
            left = await client.describe_key_pairs_async(m.DescribeKeyPairsRequest(region_id=REGION))
            return created.body, listed.body, left.body

        created, listed, left = asyncio.run(flow())
        eq(created.key_pair_name, "sdk-async", "created KeyPairName")
        eq([k.key_pair_name for k in listed.key_pairs.key_pair], ["sdk-async"], "listed")
        eq(
            listed.key_pairs.key_pair[0].key_pair_finger_print,
            created.key_pair_finger_print,
            "fingerprint",
        )
        eq(left.total_count, 0, "TotalCount after the delete")


def register_denied(suite, endpoint):
    """A forced RAM denial with an AccessDeniedDetail (docs/scenarios.md): the SDK copies the
    object into its exception."""
    detail = {"AuthAction": "ecs:CreateKeyPair", "NoPermissionType": "ImplicitDeny"}

    @suite.case("py-v2 V3: a forced Forbidden.RAM's access_denied_detail reaches the exception")
    def _():
        ak = "pyv2-denied"
        rule = {"match": {"action": "CreateKeyPair", "access_key_id": ak},
                "effect": {"error": "Forbidden.RAM", "access_denied_detail": detail}}
        conformance.control(endpoint, "POST", "/__mock/scenarios", {"name": "denied", "rules": [rule]})
        try:
            Driver(endpoint).create(ak, "sdk-denied")
            raise Check("CreateKeyPair succeeded")
        except ClientException as e:
            eq((e.code, e.status_code), ("Forbidden.RAM", 403), "code, status")
            eq(e.access_denied_detail, detail, ".access_denied_detail")
        finally:
            conformance.control(endpoint, "DELETE", "/__mock/scenarios/denied")


def register_raw(suite, endpoint):
    """Timestamps and nonces an SDK never gets wrong, sent by hand with the same algorithms."""
    ak = "raw-signer"
    params = {"RegionId": REGION, "AcceptLanguage": "en-US"}

    def case(name):
        return suite.case(f"raw {name}")

    for scheme, send, stamp_name in (("V1", raw_v1, "timestamp"), ("V3", raw_v3, "date")):

        @case(f"{scheme}: a correctly signed request succeeds (control for the cases below)")
        def _(send=send):
            status, body = send(endpoint, ak, SECRET, "DescribeRegions", params)
            eq(status, 200, f"status (body {body})")
            eq(len(body["Regions"]["Region"]), 27, "regions")

        @case(f"{scheme}: the same nonce twice within the window fails with SignatureNonceUsed")
        def _(send=send):
            nonce = uuid.uuid4().hex
            status, body = send(endpoint, ak, SECRET, "DescribeRegions", params, nonce=nonce)
            eq(status, 200, f"first use (body {body})")
            status, body = send(endpoint, ak, SECRET, "DescribeRegions", params, nonce=nonce)
            check_raw_error(status, body, "SignatureNonceUsed")

        @case(f"{scheme}: the same nonce from another AccessKeyId is accepted")
        def _(send=send):
            nonce = uuid.uuid4().hex
            eq(send(endpoint, ak, SECRET, "DescribeRegions", params, nonce=nonce)[0], 200, "first AccessKeyId")
            eq(send(endpoint, ak + "-2", SECRET, "DescribeRegions", params, nonce=nonce)[0], 200, "second AccessKeyId")

        for offset in (-16 * 60, 16 * 60):

            @case(f"{scheme}: a {stamp_name} {offset // 60:+d} min from now fails with InvalidTimeStamp.Expired")
            def _(send=send, stamp_name=stamp_name, offset=offset):
                status, body = send(endpoint, ak, SECRET, "DescribeRegions", params, **{stamp_name: utc_stamp(offset)})
                check_raw_error(status, body, "InvalidTimeStamp.Expired")

        @case(f"{scheme}: a {stamp_name} 14 min in the past is inside the window")
        def _(send=send, stamp_name=stamp_name):
            status, body = send(endpoint, ak, SECRET, "DescribeRegions", params, **{stamp_name: utc_stamp(-14 * 60)})
            eq(status, 200, f"status (body {body})")

        for bad in ("2024-01-01 00:00:00", "2024-01-01T00:00:00", "1700000000", "2024-13-01T00:00:00Z"):

            @case(f"{scheme}: the {stamp_name} {bad!r} fails with InvalidTimeStamp.Format")
            def _(send=send, stamp_name=stamp_name, bad=bad):
                status, body = send(endpoint, ak, SECRET, "DescribeRegions", params, **{stamp_name: bad})
                check_raw_error(status, body, "InvalidTimeStamp.Format")


def build(keys):
    suite = Suite("py-v2: alibabacloud-ecs20140526 7.11.8 against ecs-mock")
    mock = Mock(SEED)
    # --credential refuses fixtures for other AccessKeyIds, so this server has none.
    auth = Mock(SEED, "--credential", "sdk-known:known-secret", fixtures=False)
    # Scenarios are loaded and removed case by case here, away from the other cases.
    forced = Mock(SEED, fixtures=False)
    table = conformance.Table("py-v2", "py-v2: alibabacloud-ecs20140526 7.11.8 (V3 signatures)")
    for algorithm in (None, "v2"):
        cases.register(suite, Driver(mock.endpoint, algorithm), keys)
        register_async(suite, Driver(mock.endpoint, algorithm))
        register_auth(suite, auth.endpoint, "py-v2 V1" if algorithm else "py-v2 V3", algorithm)
    register_raw(suite, mock.endpoint)
    for algorithm in (None, "v2"):
        drv = Driver(forced.endpoint, algorithm)
        conformance.register_forced(suite, drv, forced.endpoint, None if algorithm else table)
    register_denied(suite, forced.endpoint)
    faults = conformance.register_faults(suite, FaultDriver(), SEED, table)

    @suite.case("py-v2: its section of docs/sdk-conformance.md is written")
    def _():
        table.write()

    return suite, (mock, auth, forced, faults)


if __name__ == "__main__":
    keys = SshKeys()
    suite, mocks = build(keys)
    try:
        code = suite.run()
    finally:
        for mk in mocks:
            mk.stop()
        keys.cleanup()
    sys.exit(code)
