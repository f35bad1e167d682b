#!/usr/bin/env python3
"""Seeds users through the public API: sign-up, read the code from the
server's log (the development mailer writes mail there), confirm, sign in.

usage: seed.py BASE_URL SERVER_LOG N_USERS OUT_DIR PASSWORD [PARALLEL]
Writes OUT_DIR/emails.txt, access.txt and refresh.txt (one line per user).
"""
import json
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

base, log_path, n_users, out, password = sys.argv[1:6]
parallel = int(sys.argv[6]) if len(sys.argv) > 6 else 4
run = str(time.time_ns())


def post(path, body):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "portcullis-seed/1"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def code_for(email):
    for _ in range(200):
        with open(log_path, encoding="utf-8", errors="replace") as log:
            for line in log:
                if "DEVELOPMENT ONLY" in line and email in line:
                    return json.loads(line)["body"].split("code is: ")[1][:8]
        time.sleep(0.05)
    raise SystemExit(f"no verification mail for {email} in {log_path}")


def seed(i):
    email = f"bench-{run}-{i}@bench.test"
    post("/v1/users", {"email": email, "password": password})
    post("/v1/email-verification-codes/confirm",
         {"action": "verify_email", "email": email, "code": code_for(email)})
    session = post("/v1/sessions", {"email": email, "password": password})
    rotating = post("/v1/sessions", {"email": email, "password": password})
    return email, session["access_token"], rotating["refresh_token"]


with ThreadPoolExecutor(parallel) as pool:
    users = list(pool.map(seed, range(int(n_users))))
for name, column in (("emails", 0), ("access", 1), ("refresh", 2)):
    with open(f"{out}/{name}.txt", "w") as f:
        f.write("".join(u[column] + "\n" for u in users))
print(f"seeded {len(users)} users", file=sys.stderr)
