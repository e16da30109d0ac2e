"""py-legacy suite: aliyun-python-sdk-ecs 4.24.83 + aliyun-python-sdk-core 2.16.1 (V1
signatures) against a fresh ecs-mock, plus the auth checks, among them the core's rewrite of
SignatureDoesNotMatch into InvalidAccessKeySecret (wire doc §2), every forced error of
CreateKeyPair and the common gateway errors, the core's own retries as the journal sees them,
and its section of docs/sdk-conformance.md (conformance.py).

Run: tests/sdk/.venv-py-legacy/bin/python tests/sdk/py/suite_legacy.py
"""

import json
import random
import sys

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.request.v20140526 import (
    AttachKeyPairRequest,
    CreateKeyPairRequest,
    DeleteKeyPairsRequest,
    DescribeKeyPairsRequest,
    DescribeRegionsRequest,
    DetachKeyPairRequest,
    ImportKeyPairRequest,
    JoinResourceGroupRequest,
    ListTagResourcesRequest,
    TagResourcesRequest,
    UntagResourcesRequest,
)

import cases
import conformance
from common import MESSAGES, REGION, REQUEST_ID, SECRET, STATUS, Check, Mock, SshKeys, Suite, eq, expect

SEED = 6

# The core jitters its Throttling backoff with random.randint (aliyunsdkcore/retry/
# backoff_strategy.py). Seeded with this before each fault-table call, the three waits of a
# throttled DescribeKeyPairs come out as 389, 968 and 1640 ms: each in the middle of its bucket
# (~0.4s, ~0.8s, ~1.6s), so the table cannot flap on a slow machine.
JITTER_SEED = 3

# What aliyun-python-sdk-core 2.16.1 reports instead of SignatureDoesNotMatch when the server's
# string to sign equals its own (aliyunsdkcore/client.py).
INVALID_SECRET_MESSAGE = "The AccessKeySecret is incorrect. Please check your AccessKeyId and AccessKeySecret."


class Driver:
    """Each action as one legacy request object; do_action_with_exception returns raw bytes."""

    label = "py-legacy V1"
    fixture_tenant = "sdk-fx-v1"

    def __init__(self, endpoint, secret=SECRET):
        self.endpoint = endpoint
        self.secret = secret
        self.clients = {}

    @staticmethod
    def tenant(suffix):
        return f"legacy-{suffix}"

    def client(self, ak):
        if ak not in self.clients:
            self.clients[ak] = AcsClient(ak, self.secret, REGION)
        return self.clients[ak]

    def call(self, ak, req, region=REGION):
        req.set_endpoint(self.endpoint)
        req.set_protocol_type("http")
        if region != REGION:
            # The core adds the client's region only when the request names none.
            req.add_query_param("RegionId", region)
        raw = self.client(ak).do_action_with_exception(req)
        expect(isinstance(raw, bytes), f"do_action_with_exception returned {type(raw).__name__}")
        return json.loads(raw)

    @staticmethod
    def tags(tags):
        return [{"Key": k, "Value": v} for k, v in tags]

    def create(self, ak, name, region=REGION, tags=None, rg=None):
        req = CreateKeyPairRequest.CreateKeyPairRequest()
        req.set_KeyPairName(name)
        if tags:
            req.set_Tags(self.tags(tags))
        if rg:
            req.set_ResourceGroupId(rg)
        return self.call(ak, req, region)

    def import_key(self, ak, name, public_key, region=REGION, tags=None):
        req = ImportKeyPairRequest.ImportKeyPairRequest()
        req.set_KeyPairName(name)
        req.set_PublicKeyBody(public_key)
        if tags:
            req.set_Tags(self.tags(tags))
        return self.call(ak, req, region)

    def describe(self, ak, region=REGION, name=None, fingerprint=None, page_number=None, page_size=None,
                 include_public_key=None, rg=None, tags=None):
        req = DescribeKeyPairsRequest.DescribeKeyPairsRequest()
        for setter, value in (
            (req.set_KeyPairName, name),
            (req.set_KeyPairFingerPrint, fingerprint),
            (req.set_PageNumber, page_number),
            (req.set_PageSize, page_size),
            (req.set_IncludePublicKey, include_public_key),
            (req.set_ResourceGroupId, rg),
        ):
            if value is not None:
                setter(value)
        if tags:
            req.set_Tags(self.tags(tags))
        return self.call(ak, req, region)

    def delete(self, ak, names_json, region=REGION):
        req = DeleteKeyPairsRequest.DeleteKeyPairsRequest()
        req.set_KeyPairNames(names_json)
        return self.call(ak, req, region)

    def attach(self, ak, name, ids_json, region=REGION):
        req = AttachKeyPairRequest.AttachKeyPairRequest()
        req.set_KeyPairName(name)
        req.set_InstanceIds(ids_json)
        return self.call(ak, req, region)

    def detach(self, ak, name, ids_json, region=REGION):
        req = DetachKeyPairRequest.DetachKeyPairRequest()
        req.set_KeyPairName(name)
        req.set_InstanceIds(ids_json)
        return self.call(ak, req, region)

    def regions(self, ak, lang=None):
        req = DescribeRegionsRequest.DescribeRegionsRequest()
        if lang is not None:
            req.set_AcceptLanguage(lang)
        return self.call(ak, req)

    def tag(self, ak, ids, tags, region=REGION):
        req = TagResourcesRequest.TagResourcesRequest()
        req.set_ResourceType("keypair")
        req.set_ResourceIds(ids)
        req.set_Tags(self.tags(tags))
        return self.call(ak, req, region)

    def untag(self, ak, ids, keys=None, all_=None, region=REGION):
        req = UntagResourcesRequest.UntagResourcesRequest()
        req.set_ResourceType("keypair")
        req.set_ResourceIds(ids)
        if keys:
            req.set_TagKeys(keys)
        if all_ is not None:
            req.set_All(all_)
        return self.call(ak, req, region)

    def list_tags(self, ak, ids=None, tags=None, next_token=None, region=REGION):
        req = ListTagResourcesRequest.ListTagResourcesRequest()
        req.set_ResourceType("keypair")
        if ids:
            req.set_ResourceIds(ids)
        if tags:
            req.set_Tags(self.tags(tags))
        if next_token:
            req.set_NextToken(next_token)
        return self.call(ak, req, region)

    def join(self, ak, rg, name, region=REGION):
        req = JoinResourceGroupRequest.JoinResourceGroupRequest()
        req.set_ResourceGroupId(rg)
        req.set_ResourceId(name)
        req.set_ResourceType("keypair")
        return self.call(ak, req, region)

    @staticmethod
    def request_id_of(e):
        return e.get_request_id()

    def expect_error(self, call, code, status=None, message=None):
        """The call must raise what wire doc §3.2 says the legacy core raises for a JSON error."""
        status = status or STATUS[code]
        message = message if message is not None else MESSAGES[code]
        try:
            call()
        except ServerException as e:
            check_exception(e, code, status, message)
            return e
        except ClientException as e:
            raise Check(f"ClientException {e.get_error_code()}: {e.get_error_msg()}") from e
        raise Check(f"no exception; expected {code}")


class FaultDriver:
    """The fault table's calls: short timeouts (seconds for this core), one client per row."""

    label = "py-legacy V1"

    @staticmethod
    def tenant(suffix):
        return f"legacy-{suffix}"

    @staticmethod
    def client(endpoint, ak):
        """(AcsClient, endpoint): the legacy core takes the endpoint per request."""
        client = AcsClient(
            ak,
            SECRET,
            REGION,
            timeout=conformance.READ_TIMEOUT_MS / 1000,
            connect_timeout=conformance.CONNECT_TIMEOUT_MS / 1000,
        )
        return client, endpoint

    @staticmethod
    def send(client, req):
        acs, endpoint = client
        req.set_endpoint(endpoint)
        req.set_protocol_type("http")
        return acs.do_action_with_exception(req)

    @staticmethod
    def warm(client):
        json.loads(FaultDriver.send(client, DescribeRegionsRequest.DescribeRegionsRequest()))

    @staticmethod
    def call(client, action, name):
        if action == "CreateKeyPair":
            req = CreateKeyPairRequest.CreateKeyPairRequest()
            req.set_KeyPairName(name)
        else:
            req = DescribeKeyPairsRequest.DescribeKeyPairsRequest()
        return conformance.returned_bytes(FaultDriver.send(client, req))

    @staticmethod
    def observe(e):
        if isinstance(e, ServerException):
            code, status = e.get_error_code(), e.get_http_status()
            documented = any(code in t for t in conformance.DOCUMENTED.values() if isinstance(t, dict))
            detail = "-" if documented else conformance.summarize(e.get_error_msg())
            return "ServerException", code, str(status) if status else "lost", e.get_request_id(), detail
        if isinstance(e, ClientException):
            return "ClientException", e.get_error_code(), "lost", None, conformance.summarize(e.get_error_msg())
        return type(e).__name__, "-", "lost", None, conformance.summarize(e)

    @staticmethod
    def before_call():
        random.seed(JITTER_SEED)


def register_retries(suite, endpoint):
    """The core retries DescribeKeyPairs (not CreateKeyPair) on ServiceUnavailable: the retry
    report must show each attempt, as the server saw it."""

    for action, attempts in (("DescribeKeyPairs", 4), ("CreateKeyPair", 1)):

        @suite.case(f"py-legacy V1: {action} on ServiceUnavailable: the retry report counts {attempts} attempt(s)")
        def _(action=action, attempts=attempts):
            ak = f"legacy-retried-{action}"
            rule = {"match": {"action": action, "access_key_id": ak}, "effect": {"error": "ServiceUnavailable"}}
            conformance.control(endpoint, "POST", "/__mock/scenarios", {"name": "retried", "rules": [rule]})
            try:
                client = FaultDriver.client(endpoint, ak)
                try:
                    FaultDriver.call(client, action, "sdk-retried")
                except ServerException as e:
                    check_exception(e, "ServiceUnavailable", 503, conformance.DOCUMENTED["common"]["ServiceUnavailable"][1])
                    request_id = e.get_request_id()
                else:
                    raise Check("no exception")
            finally:
                conformance.control(endpoint, "DELETE", "/__mock/scenarios")
            op = conformance.single_operation(endpoint, ak, action)
            eq(op["attempts"], attempts, "attempts in /__mock/journal/retries")
            eq([r["code"] for r in op["requests"]], ["ServiceUnavailable"] * attempts, "each attempt's code")
            eq(op["requests"][-1]["request_id"], request_id, "the exception's RequestId is the last attempt's")
            # 100 ms x 2^n between attempts (aliyunsdkcore ExponentialBackoffStrategy): each gap
            # is at least that long, whatever the machine's speed.
            for n, gap in enumerate(op["gaps_ms"]):
                expect(gap >= 100 * 2**n, f"gap {n + 1} is {gap} ms, under the core's {100 * 2**n} ms backoff")
            eq(op["non_retryable_retried"], False, "non_retryable_retried")


def check_exception(e, code, status, message):
    eq(type(e), ServerException, "exception class")
    eq(e.get_error_type(), "Server", "get_error_type()")
    eq(e.get_error_code(), code, "get_error_code()")
    eq(e.get_http_status(), status, "get_http_status()")
    eq(e.get_error_msg(), message, "get_error_msg()")
    rid = e.get_request_id()
    expect(REQUEST_ID.match(str(rid)), f"get_request_id() {rid!r}")
    eq(str(e), f"HTTP Status: {status} Error:{code} {message} RequestID: {rid}", "str(e)")


def register_auth(suite, endpoint):
    """Against a server started with --credential sdk-known:known-secret."""

    def case(name):
        return suite.case(f"py-legacy V1: {name}")

    @case("with --credential, the configured AccessKeyId and secret succeed")
    def _():
        d = Driver(endpoint, "known-secret")
        eq(len(d.regions("sdk-known", "en-US")["Regions"]["Region"]), 27, "regions")

    @case("with --credential, an unknown AccessKeyId fails with InvalidAccessKeyId.NotFound")
    def _():
        d = Driver(endpoint)
        d.expect_error(lambda: d.regions("sdk-unknown", "en-US"), "InvalidAccessKeyId.NotFound")

    for action in ("DescribeRegions", "CreateKeyPair"):

        @case(f"{action} with a wrong secret: the client reports InvalidAccessKeySecret")
        def _(action=action):
            d = Driver(endpoint, "wrong-secret")
            if action == "DescribeRegions":
                call = lambda: d.regions("sdk-known", "en-US")  # noqa: E731
            else:
                call = lambda: d.create("sdk-known", "sdk-never-created")  # noqa: E731
            d.expect_error(call, "InvalidAccessKeySecret", status=400, message=INVALID_SECRET_MESSAGE)


def build(keys):
    suite = Suite("py-legacy: aliyun-python-sdk-ecs 4.24.83 + aliyun-python-sdk-core 2.16.1 against ecs-mock")
    mock = Mock(SEED)
    # --credential refuses fixtures for other AccessKeyIds, so this server has none.
    auth = Mock(SEED, "--credential", "sdk-known:known-secret", fixtures=False)
    # Scenarios are loaded and removed case by case here, away from the other cases.
    forced = Mock(SEED, fixtures=False)
    table = conformance.Table(
        "py-legacy", "py-legacy: aliyun-python-sdk-ecs 4.24.83 + aliyun-python-sdk-core 2.16.1 (V1 signatures)"
    )
    cases.register(suite, Driver(mock.endpoint), keys)
    register_auth(suite, auth.endpoint)
    conformance.register_forced(suite, Driver(forced.endpoint), forced.endpoint, table)
    register_retries(suite, forced.endpoint)
    faults = conformance.register_faults(suite, FaultDriver(), SEED, table)

    @suite.case("py-legacy: its section of docs/sdk-conformance.md is written")
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
