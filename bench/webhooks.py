#!/usr/bin/env python3
# Webhook delivery from one instance (release binary, SQLite) to a local
# receiver: deliveries per second when a backlog is released at once, and
# the delay from a change to its delivery (p50/p99), for events that wake the
# worker (`/test`) and for ordinary changes (a ban and an unban), which the
# worker finds at its next poll. Build first: cargo build --release.
# Usage: bench/webhooks.py [N_BACKLOG=2000] [N_DELAY=200]
import http.server, json, os, statistics, subprocess, sys, tempfile, threading, time, urllib.request

BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "portcullis")
N_BACKLOG = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
N_DELAY = int(sys.argv[2]) if len(sys.argv) > 2 else 200
API, RECV_PORT = "http://127.0.0.1:18199", 18198

arrivals = []  # (monotonic time, payload)
lock = threading.Lock()

class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        with lock:
            arrivals.append((time.perf_counter(), json.loads(body)))
        self.send_response(204); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *args):
        pass

def call(method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(API + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as resp:
        text = resp.read()
        return json.loads(text) if text else None

def wait_for(count, timeout=120):
    deadline = time.time() + timeout
    while len(arrivals) < count:
        assert time.time() < deadline, f"{len(arrivals)} of {count}"
        time.sleep(0.001)

d = tempfile.mkdtemp()
env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
env.update({
    "PORTCULLIS_DATABASE_URL": f"sqlite://{d}/bench.db",
    "PORTCULLIS_LISTEN": "127.0.0.1:18199",
    "PORTCULLIS_SECRET": "x" * 40,
    "PORTCULLIS_LOG_LEVEL": "error",
    "PORTCULLIS_WEBHOOKS__ALLOWED_PRIVATE_TARGETS": '["127.0.0.1/32"]',
})
for name in ["SIGN_IN", "SIGN_UP", "CODE_REQUEST", "CODE_CONFIRM"]:
    env[f"PORTCULLIS_RATE_LIMITS__{name}__LIMIT"] = "0"
admin, password = "admin@example.com", "a long enough passphrase 1"
subprocess.run([BIN, "create-admin", "--email", admin, "--password-stdin"], input=(password + "\n").encode(), env=env, cwd=d, check=True, capture_output=True)
server = subprocess.Popen([BIN], env=env, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
receiver = http.server.ThreadingHTTPServer(("127.0.0.1", RECV_PORT), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()
try:
    for _ in range(100):
        try:
            urllib.request.urlopen(API + "/health/ready"); break
        except Exception:
            time.sleep(0.1)
    token = call("POST", "/v1/sessions", body={"email": admin, "password": password})["access_token"]
    hook = call("POST", "/v1/admin/webhooks", token, {"url": f"http://127.0.0.1:{RECV_PORT}/hook", "events": ["*"], "enabled": False})

    # Throughput: a backlog queued while the endpoint is off, then released.
    for _ in range(N_BACKLOG):
        call("POST", f"/v1/admin/webhooks/{hook['id']}/test", token, {})
    start = time.perf_counter()
    call("PATCH", f"/v1/admin/webhooks/{hook['id']}", token, {"enabled": True})
    wait_for(N_BACKLOG)
    took = arrivals[-1][0] - start
    print(f"backlog: {N_BACKLOG} deliveries in {took:.2f} s = {N_BACKLOG / took:.0f} deliveries/s")

    def delays(fire, n):
        base = len(arrivals)
        sent = []
        for i in range(n):
            sent.append(time.perf_counter()); fire(i)
            time.sleep(0.02)
        wait_for(base + n)
        got = [t for t, _ in arrivals[base:base + n]]
        ms = sorted((g - s) * 1000 for g, s in zip(got, sent))
        q = lambda p: ms[min(len(ms) - 1, int(len(ms) * p))]
        return f"p50 {statistics.median(ms):.1f} ms, p99 {q(0.99):.1f} ms"

    print("delay, /test (wakes the worker):", delays(lambda i: call("POST", f"/v1/admin/webhooks/{hook['id']}/test", token, {}), N_DELAY))
    user = call("POST", "/v1/admin/users", token, {"email": "someone@example.com"})
    def ban_or_unban(i):
        path = f"/v1/admin/users/{user['id']}/ban"
        call("POST" if i % 2 == 0 else "DELETE", path, token, {} if i % 2 == 0 else None)
    print("delay, ban/unban (found at the next poll, 500 ms):", delays(ban_or_unban, N_DELAY))
finally:
    server.terminate(); server.wait(); receiver.shutdown()
