"""Shared plumbing of the Python SDK suites: a fresh ecs-mock per suite, a tiny case runner,
independent key checks (the `cryptography` package and `ssh-keygen`, never the mock's own
code), and raw signed requests for what an unmodified SDK cannot send (stale timestamps,
replayed nonces).

Only the standard library and `cryptography` are imported here, so both virtualenvs
(py-v2 and py-legacy) can use this module.
"""

import atexit
import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import threading
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SDK_DIR = Path(__file__).resolve().parent.parent
REPO = SDK_DIR.parent.parent
FIXTURES = SDK_DIR / "fixtures.json"
REGION = "cn-hangzhou"
SECRET = "mock-secret"

# The accounts of fixtures.json: the same instances and extra resource groups in each.
FIXTURE_GROUPS = ("rg-sdkfixturegroupa", "rg-sdkfixturegroupb")
LINUX_RUNNING = "i-sdkfx0000linux001"
LINUX_STOPPED = "i-sdkfx0000linux002"
WINDOWS = "i-sdkfx00000win0001"
BEIJING = "i-sdkfx00beijing001"

REQUEST_ID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
FINGERPRINT = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){15}$")
KEY_PAIR_ID = re.compile(r"^ssh-[0-9a-z]{20}$")
CREATION_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z$")

# Messages of the API reference (../shared/spec/ecs-keypair-api.md), by code.
MESSAGES = {
    "KeyPair.AlreadyExist": "The key pair already exist.",
    "InvalidKeyPairName.Malformed": "Specified Key Pair name is not valid.",
    "InvalidRegionId.NotFound": "The RegionId provided does not exist in our records.",
    "InvalidPublicKeyBody.Malformed": "The PublicKeyBody format is not supported.",
    "InvalidKeyPairNames.ValueNotSupported": 'The specified parameter "KeyPairNames" is not valid.',
    "InvalidAccessKeyId.NotFound": "Specified access key is not found.",
    "SignatureNonceUsed": "Specified signature nonce was used already.",
    "InvalidTimeStamp.Expired": "Specified time stamp or date value is expired.",
    "InvalidTimeStamp.Format": "Specified time stamp or date value is not well formatted.",
    "DependencyViolation.WindowsInstance": "The instance creating is windows, cannot use ssh key pair to login",
    "InvalidKeyPairName.NotFound": "The specified KeyPairName does not exist in our records.",
    "InvalidParameter.KeypairAlreadyAttachedInstance": 'The specified parameter "KeyPairNames" attached to instances can not be deleted.',
    "InvalidResourceGroup.NotFound": "The ResourceGroup provided does not exist in our records.",
    "InvalidAcceptLanguage.NotFound": "Only Chinese (zh-CN), English (en-US), and Japanese (ja) are allowed.",
    "InvalidResourceId.NotFound": "The specified ResourceIds are not found in our records.",
    "QuotaExceed.KeyPair": "The key pair quota exceeds.",
}
STATUS = {
    "KeyPair.AlreadyExist": 400,
    "InvalidKeyPairName.Malformed": 400,
    "InvalidRegionId.NotFound": 404,
    "InvalidPublicKeyBody.Malformed": 400,
    "InvalidKeyPairNames.ValueNotSupported": 400,
    "InvalidAccessKeyId.NotFound": 404,
    "SignatureDoesNotMatch": 400,
    "SignatureNonceUsed": 400,
    "InvalidTimeStamp.Expired": 400,
    "InvalidTimeStamp.Format": 400,
    "DependencyViolation.WindowsInstance": 403,
    "InvalidKeyPairName.NotFound": 400,
    "InvalidParameter.KeypairAlreadyAttachedInstance": 400,
    "InvalidResourceGroup.NotFound": 404,
    "InvalidAcceptLanguage.NotFound": 404,
    "InvalidResourceId.NotFound": 404,
    "QuotaExceed.KeyPair": 403,
}
# Per-instance outcomes of Attach/DetachKeyPair (mock decisions, src/actions/attach_key_pair.rs
# and detach_key_pair.rs; the API reference documents only the success values).
RESULT_OK = {"Success": "true", "Code": "200", "Message": "successful"}
RESULT_NO_INSTANCE = {
    "Success": "false",
    "Code": "InvalidInstanceId.NotFound",
    "Message": "The specified InstanceId does not exist.",
}
RESULT_NOT_ATTACHED = {
    "Success": "false",
    "Code": "InvalidKeyPair.NotAttached",
    "Message": "The specified KeyPair is not attached to the instance.",
}
REGIONS_EN = json.loads((SDK_DIR / "regions_en.json").read_text())
SIGNATURE_MISMATCH_PREFIX = "Specified signature is not matched with our calculation. server string to sign is:"


class Check(Exception):
    """A failed expectation; its text is the case's failure reason."""


def expect(cond, what):
    if not cond:
        raise Check(what)


def eq(actual, expected, what):
    if actual != expected:
        if isinstance(actual, list) and isinstance(expected, list) and len(actual) == len(expected):
            i = next(i for i, (a, b) in enumerate(zip(actual, expected)) if a != b)
            raise Check(f"{what}: item {i}: expected {expected[i]!r}, got {actual[i]!r}")
        raise Check(f"{what}: expected {expected!r}, got {actual!r}")


# ---------------------------------------------------------------------------------------------
# The server under test


class Mock:
    """A freshly started release build of ecs-mock on 127.0.0.1 with a free port."""

    def __init__(self, seed, *extra_args, fixtures=True):
        binary = os.environ.get("ECS_MOCK_BIN") or str(default_binary())
        # ECS_MOCK_* variables of the caller's shell would silently change the server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ECS_MOCK_")}
        self.log = tempfile.NamedTemporaryFile(prefix="ecs-mock-", suffix=".log", delete=False)
        args = [binary, "--listen", "127.0.0.1:0", "--seed", str(seed)]
        if fixtures:
            args += ["--fixtures", str(FIXTURES)]
        self.proc = subprocess.Popen(
            args + list(extra_args), stdout=subprocess.PIPE, stderr=self.log, env=env
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        m = re.fullmatch(r"ecs-mock listening on http://(\S+)\n", line)
        if not m:
            log = self.log_tail()
            self.stop()
            raise RuntimeError(f"ecs-mock did not start (first line {line!r}); log: {log}")
        self.endpoint = m.group(1)
        # Stopped however the suite ends (a later server failing to start, an exception).
        atexit.register(self.stop)
        # Keep draining stdout so the server can never block on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def log_tail(self):
        try:
            return Path(self.log.name).read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.log.closed:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


def default_binary():
    target = os.environ.get("CARGO_TARGET_DIR") or "target"
    return (REPO / target / "release" / "ecs-mock").resolve()


# ---------------------------------------------------------------------------------------------
# Case runner


class Suite:
    """Runs cases in order, one `ok - name` / `FAIL - name: reason` line each, and ends with
    `N passed, M failed`. A case marked `xfail` documents a known server defect: its failure
    prints `xfail - name: reason` and counts as neither; if it passes, that is a failure (the
    marker is stale)."""

    def __init__(self, title):
        self.title = title
        self.cases = []

    def case(self, name, xfail=None):
        def register(fn):
            self.cases.append((name, fn, xfail))
            return fn

        return register

    def run(self):
        print(f"# {self.title}", flush=True)
        passed = failed = xfailed = 0
        for name, fn, xfail in self.cases:
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - every failure is a reported result
                reason = e.args[0] if isinstance(e, Check) else describe(e)
                if xfail:
                    xfailed += 1
                    print(f"xfail - {name}: {xfail} (got: {one_line(reason)})", flush=True)
                else:
                    failed += 1
                    print(f"FAIL - {name}: {one_line(reason)}", flush=True)
                    if not isinstance(e, Check) and os.environ.get("SDK_SUITE_TRACE"):
                        traceback.print_exc()
            else:
                if xfail:
                    failed += 1
                    print(f"FAIL - {name}: passed although marked expected-to-fail ({xfail})", flush=True)
                else:
                    passed += 1
                    print(f"ok - {name}", flush=True)
        if xfailed:
            print(f"# {xfailed} expected failure(s), not counted")
        print(f"{passed} passed, {failed} failed", flush=True)
        return 1 if failed else 0


def describe(e):
    return f"{type(e).__module__}.{type(e).__name__}: {e}"


def one_line(text):
    text = " ".join(str(text).split())
    return text if len(text) <= 600 else text[:600] + "..."


# ---------------------------------------------------------------------------------------------
# Keys, checked independently of the mock


def md5_fingerprint(blob):
    return ":".join(f"{b:02x}" for b in hashlib.md5(blob).digest())


def check_private_key(pem):
    """Parses `pem` as an unencrypted RSA-2048 private key (PKCS#8 as documented) and returns
    (OpenSSH public key line, MD5 fingerprint of its SSH wire blob)."""
    expect(isinstance(pem, str), f"PrivateKeyBody is not a string: {type(pem).__name__}")
    expect(
        pem.startswith("-----BEGIN PRIVATE KEY-----\n"),
        f"PrivateKeyBody is not PKCS#8 PEM: starts {pem[:40]!r}",
    )
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    expect(isinstance(key, rsa.RSAPrivateKey), f"private key is {type(key).__name__}, not RSA")
    eq(key.key_size, 2048, "RSA key size")
    line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    blob = base64.b64decode(line.split()[1])
    return line, md5_fingerprint(blob)


class SshKeys:
    """Keys made by ssh-keygen in a temp dir at test time, with ssh-keygen's own MD5 fingerprint."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ecs-mock-sdk-keys-")
        self.cache = {}

    def get(self, kind):
        """kind: 'rsa', 'ecdsa' or 'ed25519' -> (public key line, fingerprint without `MD5:`)."""
        if kind not in self.cache:
            path = os.path.join(self.dir, kind)
            args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"sdk-suite-{kind}", "-f", path]
            if kind == "rsa":
                args[4:4] = ["-b", "2048"]
            subprocess.run(args, check=True, stdin=subprocess.DEVNULL)
            public = Path(path + ".pub").read_text().strip()
            out = subprocess.run(
                ["ssh-keygen", "-l", "-E", "md5", "-f", path + ".pub"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            m = re.search(r"MD5:([0-9a-f:]{47})", out)
            expect(m, f"unexpected ssh-keygen -l output {out!r}")
            self.cache[kind] = (public, m.group(1))
        return self.cache[kind]

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Raw signed requests (stdlib only), for timestamps and nonces an SDK always gets right


def pct(s):
    return urllib.parse.quote(s, safe="-_.~")


def utc_stamp(offset_seconds=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def raw_v1(endpoint, ak, secret, action, params, timestamp=None, nonce=None):
    """POST / with a V1 (HMAC-SHA1) signed query, as §2 of the wire doc describes.
    Returns (status, decoded JSON body)."""
    q = {
        "Format": "JSON",
        "Version": "2014-05-26",
        "Action": action,
        "AccessKeyId": ak,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "Timestamp": timestamp or utc_stamp(),
        **params,
    }
    canon = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(q.items()))
    to_sign = "POST&%2F&" + pct(canon)
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    q["Signature"] = base64.b64encode(digest).decode()
    url = f"http://{endpoint}/?" + "&".join(f"{pct(k)}={pct(v)}" for k, v in q.items())
    return send(urllib.request.Request(url, data=b"", method="POST"))


def raw_v3(endpoint, ak, secret, action, params, date=None, nonce=None):
    """POST / with a V3 (ACS3-HMAC-SHA256) Authorization header. Returns (status, JSON body)."""
    empty_sha = hashlib.sha256(b"").hexdigest()
    headers = {
        "host": endpoint,
        "x-acs-action": action,
        "x-acs-version": "2014-05-26",
        "x-acs-date": date or utc_stamp(),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": empty_sha,
        # urllib sends this with any POST body, and V3 requires every content-type signed.
        "content-type": "application/x-www-form-urlencoded",
    }
    signed = ";".join(sorted(headers))
    query = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(params.items()))
    canonical = "\n".join(
        [
            "POST",
            "/",
            query,
            "".join(f"{k}:{headers[k].strip()}\n" for k in sorted(headers)),
            signed,
            empty_sha,
        ]
    )
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"ACS3-HMAC-SHA256 Credential={ak},SignedHeaders={signed},Signature={signature}"
    )
    headers["accept"] = "application/json"
    url = f"http://{endpoint}/?{query}"
    return send(urllib.request.Request(url, data=b"", method="POST", headers=headers))


def send(req):
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def check_raw_error(status, body, code, message=None):
    """An error body as the wire doc §3.2 describes: RequestId, HostId, Code, Message, Recommend."""
    eq(status, STATUS[code], f"{code} HTTP status")
    eq(body.get("Code"), code, "Code")
    eq(body.get("Message"), message or MESSAGES[code], "Message")
    expect(REQUEST_ID.match(body.get("RequestId", "")), f"RequestId {body.get('RequestId')!r}")
    eq(sorted(body), ["Code", "HostId", "Message", "Recommend", "RequestId"], "error body fields")

