#!/usr/bin/env bash
# Login hardening benchmark (issue 19 items 7 and 8) against a live `neutrino
# server` on 127.0.0.1 (fresh SQLite state dir; every request on loopback):
#  - memory: the server's peak anonymous RSS during N concurrent wrong-password logins
#    (each from its own loopback source address, so the per-source lockout does
#    not end them early; unknown names, which cost a dummy verification) against
#    the peak during the same number one at a time, in the same run, and against
#    the bound by design (one argon2 block set a core); and the RSS afterwards;
#  - timing: the median time of a failed login for an unknown user against a
#    wrong password for an existing one (enumeration by timing: the ratio should
#    be near 1), and the right password after 10 failures (locked out: 401).
#   bench/login.sh [--debug] [--concurrent N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
profile=release
concurrent=200
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) profile=debug ;;
        --concurrent) concurrent="$2"; shift ;;
        *) echo "usage: $0 [--debug] [--concurrent N]" >&2; exit 2 ;;
    esac
    shift
done
if [ "$profile" = release ]; then cargo build -q --release -p neutrino; else cargo build -q -p neutrino; fi
bin="target/$profile/neutrino"

state=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
url="http://127.0.0.1:$port"
NEUTRINO_LOG=warn "$bin" server --listen "0.0.0.0:$port" --state-dir "$state" \
    --admin-password bench-pw >"$state/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$state"; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "$url/" >/dev/null && break; sleep 0.1; done

python3 - "$port" "$server" "$concurrent" <<'PY'
import http.client, json, statistics, sys, threading, time
port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def status_kib(key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0

def login(name, password, source, project=None):
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": name, "domain": {"name": "Default"}, "password": password}}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"name": "Default"}}}
    return post_login(json.dumps({"auth": auth}), source)

def post_login(body, source):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(source, 0))
    t0 = time.monotonic()
    c.request("POST", "/v3/auth/tokens", body, {"content-type": "application/json"})
    r = c.getresponse()
    text = r.read()
    dt = time.monotonic() - t0
    if r.status not in (201, 401):
        print("login:", r.status, text[:200], file=sys.stderr)
    c.close()
    return r.status, dt, r.getheader("x-subject-token")

def src(i):
    return f"127.1.{i // 250}.{i % 250 + 1}"

_, _, token = login("admin", "bench-pw", "127.0.0.1", "admin")
assert token, "no admin token"
H = {"x-auth-token": token, "content-type": "application/json"}
def api(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, json.dumps(body) if body else None, H)
    r = c.getresponse()
    out = json.loads(r.read() or b"null")
    c.close()
    assert r.status < 300, (method, path, r.status, out)
    return out
project = api("POST", "/v3/projects", {"project": {"name": "bench", "domain_id": "default"}})["project"]["id"]
member = [r for r in api("GET", "/v3/roles")["roles"] if r["name"] == "member"][0]["id"]
for i in range(20):
    u = api("POST", "/v3/users", {"user": {"name": f"user{i}", "password": f"right-{i}", "domain_id": "default"}})["user"]["id"]
    api("PUT", f"/v3/projects/{project}/users/{u}/roles/{member}")

class Peak(threading.Thread):
    """Samples the anonymous RSS (heap and stacks, not the mapped binary) every 2 ms."""
    def __init__(self):
        super().__init__(daemon=True)
        self.stop, self.peak = False, 0
    def run(self):
        while not self.stop:
            self.peak = max(self.peak, status_kib("RssAnon"))
            time.sleep(0.002)

idle = status_kib("RssAnon")
p = Peak(); p.start()
for i in range(n):
    login(f"nobody-seq-{i}", "wrong", src(i))
p.stop = True; p.join()
seq_peak = p.peak
p = Peak(); p.start()
threads = [threading.Thread(target=login, args=(f"nobody-par-{i}", "wrong", src(n + i))) for i in range(n)]
t0 = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
par_time = time.monotonic() - t0
p.stop = True; p.join()
par_peak = p.peak
time.sleep(1)
after = status_kib("RssAnon")

# Timing: 5 wrong passwords for each of 20 users (under the per-name lockout of
# 10) against 100 unknown names, interleaved, each from its own source.
wrong, unknown = [], []
k = 2 * n
for round_ in range(5):
    for i in range(20):
        wrong.append(login(f"user{i}", "wrong", src(k))[1]); k += 1
        unknown.append(login(f"ghost-{round_}-{i}", "wrong", src(k))[1]); k += 1
# Lockout: 10 more failures for user0, then its right password.
for _ in range(10):
    login("user0", "wrong", src(k)); k += 1
locked = login("user0", "right-0", src(k), "bench")[0]
ok = login("user1", "right-1", src(k + 1), "bench")[0]

mib = lambda kib: kib / 1024
print(f"server anon RSS idle                     {mib(idle):8.1f} MiB")
print(f"peak, {n} failed logins one at a time  {mib(seq_peak):8.1f} MiB (+{mib(seq_peak - idle):.1f})")
print(f"peak, {n} failed logins at once        {mib(par_peak):8.1f} MiB (+{mib(par_peak - idle):.1f}), all answered in {par_time:.1f} s")
print(f"anon RSS 1 s after                     {mib(after):8.1f} MiB")
import os
bound = (os.cpu_count() or 1) * 19 * 1024  # one argon2 block set (m=19456 KiB) a core
print(f"extra memory at once / (cores x argon2's 19 MiB): {(par_peak - idle) / bound:.2f}")
mw, mu = statistics.median(wrong), statistics.median(unknown)
print(f"failed login, wrong password (median of {len(wrong)})  {mw * 1000:7.1f} ms")
print(f"failed login, unknown user (median of {len(unknown)})   {mu * 1000:7.1f} ms")
print(f"ratio unknown/wrong: {mu / mw:.2f}")
print(f"right password after 10 failures: {locked} (401 = locked out); another user meanwhile: {ok} (201)")
PY
