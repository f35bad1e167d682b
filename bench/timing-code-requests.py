#!/usr/bin/env python3
# Does the answer time of a code request tell known from unknown addresses?
# 300 interleaved requests each (after warm-up) against the release binary on
# SQLite; prints medians and p90. Build first: cargo build --release.
import json, os, statistics, subprocess, sys, tempfile, time, urllib.request, uuid
BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "portcullis")
d = tempfile.mkdtemp()
env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
env.update({
    "PORTCULLIS_DATABASE_URL": f"sqlite://{d}/d1.db",
    "PORTCULLIS_LISTEN": "127.0.0.1:18099",
    "PORTCULLIS_SECRET": "x" * 40,
    "PORTCULLIS_MAIL_COOLDOWN_SECS": "0",
    "PORTCULLIS_RATE_LIMITS__CODE_REQUEST__LIMIT": "0",
    "PORTCULLIS_RATE_LIMITS__MAIL_PER_ADDRESS__LIMIT": "0",
    "PORTCULLIS_LOG_LEVEL": "error",
})
known = "known@example.com"
subprocess.run([BIN, "create-admin", "--email", known, "--password-stdin"], input=b"a long enough passphrase 1\n", env=env, cwd=d, check=True, capture_output=True)
server = subprocess.Popen([BIN], env=env, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(100):
        try:
            urllib.request.urlopen("http://127.0.0.1:18099/health/ready"); break
        except Exception:
            time.sleep(0.1)
    def req(email, action):
        body = json.dumps({"email": email, "action": action}).encode()
        r = urllib.request.Request("http://127.0.0.1:18099/v1/email-verification-codes", data=body, headers={"content-type": "application/json"})
        t = time.perf_counter(); resp = urllib.request.urlopen(r); resp.read(); dt = (time.perf_counter() - t) * 1000
        assert resp.status == 202
        return dt
    for action in ["reset_password", "sign_in"]:
        k, u = [], []
        for i in range(20):  # warm-up
            req(known, action); req(f"u{uuid.uuid4().hex}@example.com", action)
        for i in range(300):
            k.append(req(known, action)); u.append(req(f"u{uuid.uuid4().hex}@example.com", action))
        q = lambda xs, p: sorted(xs)[int(len(xs) * p)]
        print(f"{action}: known median {statistics.median(k):.2f} ms p90 {q(k,.9):.2f}; unknown median {statistics.median(u):.2f} ms p90 {q(u,.9):.2f}")
finally:
    server.terminate()
