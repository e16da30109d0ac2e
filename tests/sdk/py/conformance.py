"""Forced errors and the fault conformance table, shared by the Python suites.

- `register_forced`: every `scenarios/errors/CreateKeyPair.*.json` and `common.*.json`, loaded
  as is through the control API, then one CreateKeyPair through the SDK: the exception must
  carry the documented code, HTTP status and message (tests/sdk/documented_errors.json) and the
  RequestId the journal recorded for that request.
- `register_faults`: each row of tests/sdk/conformance.json (retryable errors and transport
  faults) on CreateKeyPair and DescribeKeyPairs, recording what the SDK did and how many
  attempts `GET /__mock/journal/retries` saw.
- `Table`: the SDK's section of docs/sdk-conformance.md, rewritten in place.

Standard library only (both virtualenvs import it); SDK specifics come from a driver.
"""

import json
import math
import re
import sys
import time
import urllib.error
import urllib.request

from common import REPO, SDK_DIR, Check, Mock, eq, expect

CONF = json.loads((SDK_DIR / "conformance.json").read_text())
DOCUMENTED = json.loads((SDK_DIR / "documented_errors.json").read_text())
ERRORS_DIR = REPO / "scenarios" / "errors"
DOC = REPO / "docs" / "sdk-conformance.md"
SECTIONS = ("py-v2", "py-legacy", "node")
READ_TIMEOUT_MS = CONF["read_timeout_ms"]
CONNECT_TIMEOUT_MS = CONF["connect_timeout_ms"]
FORCED_NAME = "sdk-forced"
FAULT_NAME = "sdk-fault"


# ---------------------------------------------------------------------------------------------
# The control API


def control(endpoint, method, path, body=None):
    """One control API call; returns the decoded JSON answer (raises on a non-2xx)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{endpoint}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        raise Check(f"{method} {path}: HTTP {e.code} {e.read()!r}") from e


def operations(endpoint, ak, action):
    """The retry report's operations of tenant `ak` for `action`."""
    return control(endpoint, "GET", f"/__mock/journal/retries?access_key_id={ak}&action={action}")["operations"]


def settle(endpoint, ak, action):
    """Waits until the journal of `ak` stops growing: an attempt whose client gave up during a
    scenario latency is journaled when the server notices the disconnection."""
    last, stable = None, 0
    for _ in range(60):
        now = [op["attempts"] for op in operations(endpoint, ak, action)]
        stable = stable + 1 if now == last else 0
        if stable >= 3:
            return
        last = now
        time.sleep(0.05)


def single_operation(endpoint, ak, action):
    ops = operations(endpoint, ak, action)
    expect(len(ops) == 1, f"the retry report has {len(ops)} operations for {ak}/{action}: {ops}")
    return ops[0]


# ---------------------------------------------------------------------------------------------
# Forced errors


def forced_error_files():
    """The ready-made scenario files that apply to CreateKeyPair, in a stable order."""
    return sorted(ERRORS_DIR.glob("CreateKeyPair.*.json")) + sorted(ERRORS_DIR.glob("common.*.json"))


def expected_error(scenario):
    """(code, status, message) the reference documents for the scenario's forced error."""
    effect = scenario["rules"][0]["effect"]
    code = effect["error"]
    for table in ("CreateKeyPair", "common", "mock_defined"):
        if code in DOCUMENTED[table]:
            status, template = DOCUMENTED[table][code]
            break
    else:
        raise Check(f"{code} is not in tests/sdk/documented_errors.json")
    message = template.replace("{}", effect["arg"]) if "{}" in template else template
    return code, status, message


def register_forced(suite, drv, endpoint, table=None):
    """`drv` is a suite Driver pointing at `endpoint` (a server without fixtures); with `table`,
    each case also adds its row there."""
    for i, path in enumerate(forced_error_files()):
        scenario = json.loads(path.read_text())

        @suite.case(f"{drv.label}: forced {scenario['rules'][0]['effect']['error']} ({path.name}) through CreateKeyPair")
        def _(i=i, path=path, scenario=scenario):
            cells = [f"`{path.name}`"]
            try:
                cells += forced_row(drv, endpoint, i, scenario)
            except Exception as e:
                cells += ["ERROR: " + (e.args[0] if isinstance(e, Check) else repr(e)), "", "", ""]
                raise
            finally:
                if table is not None:
                    table.forced.append(cells)


def forced_row(drv, endpoint, i, scenario):
    """Runs one forced-error case; returns the cells from Exception to Attempts."""
    code, status, message = expected_error(scenario)
    ak = drv.tenant(f"forced-{i}")
    control(endpoint, "DELETE", "/__mock/scenarios")
    control(endpoint, "POST", "/__mock/scenarios", scenario)
    try:
        e = drv.expect_error(lambda: drv.create(ak, FORCED_NAME), code, status, message)
    finally:
        control(endpoint, "DELETE", "/__mock/scenarios")
    op = single_operation(endpoint, ak, "CreateKeyPair")
    eq(drv.request_id_of(e), op["requests"][-1]["request_id"], "RequestId vs the journal's")
    eq((op["outcome"]["status"], op["outcome"]["code"]), (status, code), "journal outcome")
    return [type(e).__name__, code, str(status), str(op["attempts"])]


# ---------------------------------------------------------------------------------------------
# The fault table


def bucket(ms):
    """A gap as a stable label: under 50 ms "immediate", else the nearest 0.1 s x 2^k."""
    if ms < 50:
        return "immediate"
    k = math.floor(math.log2(ms / 75))
    return f"~{0.1 * 2 ** k:g}s"


def gaps_text(gaps):
    return ", ".join(bucket(g) for g in gaps) if gaps else "-"


def effect_text(effect):
    return "`" + json.dumps(effect, separators=(",", ":")) + "`"


def rows():
    """(row index, row, action) for every line of the fault table."""
    for i, row in enumerate(CONF["rows"]):
        for action in row.get("actions", CONF["actions"]):
            yield i, row, action


def summarize(text):
    """A stable phrase for an exception message (ports, byte counts and bodies vary)."""
    text = str(text)
    for pattern, phrase in (
        (r"Read timed out", "read timed out"),
        (r"timed out", "timed out"),
        (r"RemoteDisconnected", "closed without a response"),
        (r"Connection reset by peer|ConnectionResetError", "connection reset"),
        (r"IncompleteRead", "body cut short (IncompleteRead)"),
        (r"Failed to parse the value as json", "body is not JSON"),
        (r"ServerResponseBody: <html>", "HTML body in the message"),
        (r"ServerResponseBody: ", "raw body in the message"),
    ):
        if re.search(pattern, text):
            return phrase
    return re.sub(r"\d+", "N", " ".join(text.split()))[:60]


def register_faults(suite, fd, seed, table):
    """`fd` is the suite's fault driver: `label`, `tenant(suffix)`, `client(endpoint, ak)`,
    `warm(client)`, `call(client, action, name)` → (detail, RequestId or None) when the call
    returns, `observe(e)` → (exception, code, status, RequestId or None, detail) when it
    raises, and `before_call()`. Returns the (lazily started) server of the reused-connection
    rows, to be stopped at the end."""
    server = LazyMock(seed)

    for i, row, action in rows():
        connection = "new" if row.get("new_connection") else "reused"

        @suite.case(f"{fd.label} table: {json.dumps(row['effect'])} on {action} ({connection} connection)")
        def _(i=i, row=row, action=action, connection=connection):
            cells = [effect_text(row["effect"]), connection, action]
            try:
                cells += fault_row(fd, server.get, seed, i, row, action, connection)
            except Exception as e:
                cells += ["ERROR: " + (e.args[0] if isinstance(e, Check) else repr(e))] + [""] * 5
                raise
            finally:
                table.faults.append(cells)

    return server


class LazyMock:
    """An ecs-mock without fixtures, started on first use."""

    def __init__(self, seed):
        self.seed = seed
        self.mock = None

    def get(self):
        if self.mock is None:
            self.mock = Mock(self.seed, fixtures=False)
        return self.mock

    def stop(self):
        if self.mock is not None:
            self.mock.stop()


def fault_row(fd, shared, seed, i, row, action, connection):
    """Runs one row; returns the cells from Exception to Gaps."""
    fresh = Mock(seed, fixtures=False) if connection == "new" else None
    endpoint = (fresh or shared()).endpoint
    ak = fd.tenant(f"fault-{i}-{action}")
    rule = {"match": {"action": action, "access_key_id": ak}, "effect": row["effect"]}
    control(endpoint, "DELETE", "/__mock/scenarios")
    control(endpoint, "POST", "/__mock/scenarios", {"name": "conformance-row", "rules": [rule]})
    try:
        client = fd.client(endpoint, ak)
        if connection == "reused":
            fd.warm(client)
        fd.before_call()
        try:
            detail, request_id = fd.call(client, action, FAULT_NAME)
            exception, code, status = "none", "-", "200"
        except Exception as e:  # noqa: BLE001 - what the SDK raises is the observation
            exception, code, status, request_id, detail = fd.observe(e)
        if "latency" in row["effect"]:
            settle(endpoint, ak, action)
        op = single_operation(endpoint, ak, action)
        if request_id is not None:
            eq(request_id, op["requests"][-1]["request_id"], "RequestId vs the journal's last attempt")
        expect(not op["non_retryable_retried"], f"a non-retryable code was retried: {op}")
    finally:
        control(endpoint, "DELETE", "/__mock/scenarios")
        if fresh:
            fresh.stop()
    return [exception, code, status, detail, str(op["attempts"]), gaps_text(op["gaps_ms"])]


def returned_bytes(raw):
    """(detail, RequestId) for a call that returned raw bytes (py-legacy)."""
    request_id = None
    if raw == b"":
        return "empty body returned", None
    try:
        body = json.loads(raw)
    except ValueError:
        return ("cut JSON returned" if raw.startswith(b"{") else "non-JSON bytes returned"), None
    if isinstance(body, dict):
        request_id = body.get("RequestId")
    return "complete JSON returned", request_id


class Table:
    """One SDK's section of docs/sdk-conformance.md."""

    def __init__(self, key, title):
        assert key in SECTIONS
        self.key = key
        self.title = title
        self.forced = []
        self.faults = []

    def markdown(self):
        # The runtime's HTTP stack shapes the answers too, so its version is part of the title.
        out = [f"## {self.title}, Python {sys.version_info.major}.{sys.version_info.minor}", ""]
        out += [
            "### Forced errors (CreateKeyPair, one ready-made file of `scenarios/errors/` each)",
            "",
        ]
        out += grid(["Scenario file", "Exception", "Code", "HTTP status", "Attempts"], self.forced)
        out += ["", "### Retryable errors and transport faults", ""]
        out += grid(
            ["Scenario effect", "Connection", "Action", "Exception", "Code", "HTTP status", "Detail",
             "Attempts", "Gaps"],
            self.faults,
        )
        return "\n".join(out)

    def write(self):
        sections = read_sections()
        sections[self.key] = self.markdown()
        parts = ["\n".join(CONF["header"])]
        for key in SECTIONS:
            body = sections.get(key) or f"## {key}\n\n_Not generated yet: run `tests/sdk/run.sh {key}`._"
            parts.append(f"<!-- BEGIN {key} -->\n{body}\n<!-- END {key} -->")
        DOC.write_text("\n\n".join(parts) + "\n")


def grid(header, rows_):
    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header)] + [line(r) for r in rows_]


def read_sections():
    try:
        text = DOC.read_text()
    except FileNotFoundError:
        return {}
    found = {}
    for key in SECTIONS:
        m = re.search(rf"<!-- BEGIN {re.escape(key)} -->\n(.*?)\n<!-- END {re.escape(key)} -->", text, re.S)
        if m:
            found[key] = m.group(1)
    return found
