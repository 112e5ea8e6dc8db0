"""How long a single write outside a transaction waits beside busy write transactions.

Starts `escrow serve` on a fresh SQLite file, then for 10 s has 16 threads create products
under Idempotency-Keys (write transactions, plus the keys' own writes) while one thread
times `PUT /products/{id}` (one write outside a transaction). Prints its latencies.
Usage: python3 bench/write_queue_latency.py PATH/TO/escrow PORT  (see BENCHMARKS.md, round 6)
"""
import json, os, subprocess, sys, tempfile, threading, time, urllib.error, urllib.request, uuid
binary, port = sys.argv[1], sys.argv[2]
db = os.path.join(tempfile.gettempdir(), f"write-queue-{port}.db")
for s in ("", "-wal", "-shm"):
    try: os.remove(db + s)
    except FileNotFoundError: pass
env = dict(os.environ, ESCROW_LISTEN=f"127.0.0.1:{port}", ESCROW_DATABASE_URL=f"sqlite://{db}", ESCROW_LOG="warn")
proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}"
def call(method, path, body=None, token=None, key=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None)
    req.add_header("content-type", "application/json")
    if token: req.add_header("authorization", f"Bearer {token}")
    if key: req.add_header("idempotency-key", key)
    try:
        with urllib.request.urlopen(req, timeout=30) as r: return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e: return e.code, json.loads(e.read() or b"null")
for _ in range(100):
    try:
        urllib.request.urlopen(base + "/healthz", timeout=1); break
    except Exception: time.sleep(0.1)
email = f"s{uuid.uuid4().hex}@x.kr"
call("POST", "/auth/signup", {"email": email, "password": "correct-horse-battery", "name": "판매자", "role": "seller"})
token = call("POST", "/auth/login", {"email": email, "password": "correct-horse-battery"})[1]["token"]
pid = call("POST", "/products", {"name": "n", "description": "d", "price": 1000, "stock": 5}, token)[1]
pid = pid.get("product_id") or pid.get("id")
stop = time.time() + 10
lat, errs, writes = [], [], [0]
def writer():
    while time.time() < stop:
        st, _ = call("POST", "/products", {"name": "n", "description": "d", "price": 1000, "stock": 5}, token, key=str(uuid.uuid4()))
        writes[0] += 1
ts = [threading.Thread(target=writer) for _ in range(16)]
for t in ts: t.start()
time.sleep(1)
while time.time() < stop:
    t0 = time.time()
    st, body = call("PUT", f"/products/{pid}", {"name": "n2", "description": "d", "price": 1000, "stock": 5}, token)
    lat.append((time.time() - t0) * 1000)
    if st != 200: errs.append(st)
for t in ts: t.join()
proc.terminate(); proc.wait()
lat.sort()
print(binary, "keyed creates", writes[0], "updates", len(lat), "errors", errs[:5], "p50 %.1f p90 %.1f p99 %.1f max %.1f ms" % (lat[len(lat)//2], lat[int(len(lat)*.9)], lat[int(len(lat)*.99)], lat[-1]))
