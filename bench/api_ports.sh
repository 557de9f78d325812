#!/usr/bin/env bash
# API benchmark: time to create 1,000 ports through the HTTP API of a live
# `neutrino server` (sequentially, then with 16 concurrent clients), and to list
# them. The server runs on 127.0.0.1 with a fresh SQLite state dir (or
# --database-url URL for PostgreSQL); every request goes to loopback only.
#   bench/api_ports.sh [--debug] [--count N] [--database-url URL]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
profile=release
count=1000
db_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) profile=debug ;;
        --count) count="$2"; shift ;;
        --database-url) db_args=(--database-url "$2"); shift ;;
        *) echo "usage: $0 [--debug] [--count N] [--database-url URL]" >&2; exit 2 ;;
    esac
    shift
done
if [ "$profile" = release ]; then cargo build -q --release -p neutrino; else cargo build -q -p neutrino; fi
bin="target/$profile/neutrino"

state=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
url="http://127.0.0.1:$port"
NEUTRINO_LOG=warn "$bin" server --listen "127.0.0.1:$port" --state-dir "$state" \
    --admin-password bench-pw --vxlan-range 1:100000 "${db_args[@]}" >"$state/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$state"; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "$url/" >/dev/null && break; sleep 0.1; done

token=$(curl -si -X POST "$url/v3/auth/tokens" -H 'content-type: application/json' -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"name":"Default"},"password":"bench-pw"}}},"scope":{"project":{"name":"admin","domain":{"name":"Default"}}}}}' \
    | awk 'tolower($1)=="x-subject-token:" {print $2}' | tr -d '\r')
[ -n "$token" ] || { echo "bench: no token" >&2; cat "$state/server.log" >&2; exit 1; }

python3 - "$url" "$token" "$count" <<'PY'
import json, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
url, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
H = {"x-auth-token": token, "content-type": "application/json"}

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method, headers=H)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")

def network(name, cidr):
    n = call("POST", "/v2.0/networks", {"network": {"name": name}})["network"]
    call("POST", "/v2.0/subnets", {"subnet": {"network_id": n["id"], "cidr": cidr}})
    return n["id"]

def create(net, i):
    return call("POST", "/v2.0/ports", {"port": {"network_id": net, "name": f"p{i}"}})["port"]

results = []
for label, workers, cidr in [("sequential", 1, "10.10.0.0/20"), ("16 concurrent", 16, "10.20.0.0/20")]:
    net = network(label, cidr)
    t0 = time.monotonic()
    if workers == 1:
        ports = [create(net, i) for i in range(count)]
    else:
        with ThreadPoolExecutor(workers) as ex:
            ports = list(ex.map(lambda i: create(net, i), range(count)))
    dt = time.monotonic() - t0
    ips = {p["fixed_ips"][0]["ip_address"] for p in ports}
    macs = {p["mac_address"] for p in ports}
    assert len(ips) == count and len(macs) == count, "duplicate address"
    results.append((f"create {count} ports, {label}", dt, count / dt))
t0 = time.monotonic()
listed = call("GET", "/v2.0/ports")["ports"]
dt = time.monotonic() - t0
results.append((f"list {len(listed)} ports (one GET)", dt, None))
t0 = time.monotonic()
page = call("GET", "/v2.0/ports?limit=100")["ports"]
dt = time.monotonic() - t0
results.append((f"list first page of {len(page)} ports (limit=100)", dt, None))
for name, dt, rate in results:
    extra = f"  ({rate:.0f} ports/s)" if rate else ""
    print(f"{name:<48} {dt*1000:10.1f} ms{extra}")
PY
