#!/usr/bin/env bash
# Real-SDK conformance: the official Alibaba Cloud SDKs, unmodified and at pinned versions,
# against a freshly started release build of ecs-mock.
#
#   tests/sdk/run.sh                      all three suites
#   tests/sdk/run.sh py-v2 node           only these (any of: py-v2 py-legacy node)
#   tests/sdk/run.sh --check-conformance  all three, then fail if docs/sdk-conformance.md
#                                         (which the suites rewrite) differs from the committed
#                                         file (git diff --exit-code): what CI runs
#
# Builds target/release/ecs-mock once (cargo build --release --locked; CARGO_TARGET_DIR is
# honoured), creates tests/sdk/.venv-py-v2 and .venv-py-legacy from the fully pinned
# requirements files (pip --no-deps) and runs `npm ci` in tests/sdk/node; each of these is
# redone only when its pin file changed. Every suite starts its own servers on 127.0.0.1:0,
# prints `ok - …` / `FAIL - …: reason` per case and `N passed, M failed`; this script ends
# with the combined `N passed, M failed` and exits non-zero if any suite failed.
# Needs python3 (with venv), node + npm, ssh-keygen, cargo.
set -euo pipefail
cd "$(dirname "$0")/../.."
SDK=tests/sdk
PYTHON=${PYTHON:-python3}

check=0
suites=()
for arg in "$@"; do
    case $arg in
        --check-conformance) check=1 ;;
        py-v2 | py-legacy | node) suites+=("$arg") ;;
        *) echo "unknown argument '$arg' (py-v2, py-legacy, node, --check-conformance)" >&2; exit 2 ;;
    esac
done
if [ $check -eq 1 ] && [ ${#suites[@]} -gt 0 ]; then
    echo "--check-conformance runs all three suites: the table has one section each" >&2
    exit 2
fi
[ ${#suites[@]} -gt 0 ] || suites=(py-v2 py-legacy node)

step() { printf '\n== sdk: %s (%ss elapsed)\n' "$1" "$SECONDS"; }
digest() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

step "cargo build --release"
cargo build --release --locked
target=${CARGO_TARGET_DIR:-target}
ECS_MOCK_BIN="$(cd "$target" && pwd)/release/ecs-mock"
export ECS_MOCK_BIN
export PYTHONDONTWRITEBYTECODE=1

python_env() { # suite name -> tests/sdk/.venv-<name> from py/requirements-<name>.txt
    local dir=$SDK/.venv-$1 req=$SDK/py/requirements-$1.txt want
    want=$(digest "$req")
    if [ "$(cat "$dir/.pins" 2>/dev/null)" != "$want" ]; then
        step "virtualenv $1"
        rm -rf "$dir"
        "$PYTHON" -m venv "$dir"
        "$dir/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$req"
        echo "$want" >"$dir/.pins"
    fi
}

node_env() {
    local want
    want=$(digest $SDK/node/package.json $SDK/node/package-lock.json)
    if [ "$(cat $SDK/node/node_modules/.pins 2>/dev/null)" != "$want" ]; then
        step "npm ci"
        # The one install script (@alicloud/openapi-core's select-version) does nothing on
        # Node >= 14; skipping scripts keeps the install offline from anything but the registry.
        (cd $SDK/node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
        echo "$want" >$SDK/node/node_modules/.pins
    fi
}

passed=0
failed=0
status=0
run_suite() { # name command...
    local name=$1 out rc closing
    shift
    step "suite $name"
    out=$(mktemp)
    set +e
    "$@" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    set -e
    closing=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
    rm -f "$out"
    if [ -z "$closing" ]; then
        echo "suite $name ended without its closing line (exit $rc)" >&2
        failed=$((failed + 1))
        status=1
        return
    fi
    passed=$((passed + ${closing%% passed*}))
    closing=${closing#*, }
    failed=$((failed + ${closing%% failed*}))
    [ "$rc" -eq 0 ] || status=1
}

for s in "${suites[@]}"; do
    case $s in
        py-v2) python_env py-v2 && run_suite py-v2 "$SDK/.venv-py-v2/bin/python" $SDK/py/suite_v2.py ;;
        py-legacy) python_env py-legacy && run_suite py-legacy "$SDK/.venv-py-legacy/bin/python" $SDK/py/suite_legacy.py ;;
        node) node_env && run_suite node node $SDK/node/suite.js ;;
    esac
done

table=docs/sdk-conformance.md
if [ $check -eq 1 ]; then
    step "check $table"
    if ! git ls-files --error-unmatch "$table" >/dev/null 2>&1; then
        echo "FAIL - $table is generated but not committed: commit it"
        failed=$((failed + 1))
        status=1
    elif git diff --exit-code -- "$table"; then
        echo "ok - $table is what the SDKs do now (no difference with the committed file)"
        passed=$((passed + 1))
    else
        echo "FAIL - $table differs from the committed file (diff above): review the change and commit the regenerated file"
        failed=$((failed + 1))
        status=1
    fi
fi

step "done"
echo "$passed passed, $failed failed"
exit $status
