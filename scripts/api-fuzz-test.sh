#!/usr/bin/env bash
# The API against its own description (issue 23): starts a server on loopback
# (SQLite in a scratch directory), validates /openapi.json with
# openapi-spec-validator, then lets schemathesis (both from PyPI, in
# .venv-apitest) generate requests from it for a few minutes. Fails on any 5xx,
# any response its schema does not describe, or a wrong content type.
# The operations that could take the fuzzer's own access away (revoking its
# token, its role, disabling its user or project) run in a second, short pass.
#   scripts/api-fuzz-test.sh           (API_FUZZ_SECONDS=N: the first pass's budget)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=.venv-apitest
if [ ! -x "$venv/bin/schemathesis" ] || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
    echo "api-fuzz-test: installing schemathesis and openapi-spec-validator into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        'schemathesis==4.32.5' 'openapi-spec-validator==0.9.0' >&2
fi
cargo build -q -p neutrino
bin=$PWD/target/debug/neutrino
st=$PWD/$venv/bin/schemathesis
dir=$(mktemp -d /tmp/neutrino-apifuzz.XXXXXX)
out=$PWD/target/test-artifacts/schemathesis
mkdir -p "$out"
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pw=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
api=http://127.0.0.1:$port
# A VLAN range, so a vlan network asked for without a segment gets one: without
# any, the answer is Neutron's 503 NoNetworkAvailable, which the fuzzer's
# not_a_server_error check cannot tell from a fault.
"$bin" server --listen "127.0.0.1:$port" --state-dir "$dir" --admin-password "$pw" \
    --vlan-range fuzznet:1:4094 >"$out/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    curl -sf "$api/" >/dev/null && break
    sleep 0.1
done
curl -sf "$api/openapi.json" >"$out/openapi.json"
"$venv/bin/openapi-spec-validator" "$out/openapi.json"
token() {
    curl -sf -D - -o /dev/null -H 'Content-Type: application/json' -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],
        \"password\":{\"user\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"},\"password\":\"$pw\"}}},
        \"scope\":{\"project\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"}}}}}" "$api/v3/auth/tokens" \
        | awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r'
}
self_harm='^(delete_v3_auth_tokens|patch_v3_users_id|delete_v3_users_id|patch_v3_projects_id|delete_v3_projects_id|delete_v3_roles_id|delete_v3_projects_project_users_user_roles_role)$'
checks=not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance
run() {
    local name=$1 seconds=$2; shift 2
    echo "api-fuzz-test: $name (${seconds}s)"
    # From the scratch directory: schemathesis keeps its example database in the cwd.
    (cd "$dir" && "$st" run "$api/openapi.json" -H "X-Auth-Token: $(token)" \
        --checks "$checks" --max-time "$seconds" --phases examples,coverage,fuzzing,stateful \
        --report junit --report-junit-path "$out/$name.xml" "$@")
}
run main "${API_FUZZ_SECONDS:-180}" --exclude-operation-id-regex "$self_harm"
run self-harm 45 --include-operation-id-regex "$self_harm"
echo "api-fuzz-test: no server errors, every response as described"
