"""Cross-check: the service's outgoing webhooks verified by the Standard Webhooks reference
library for Python (PyPI `standardwebhooks`), as an integrator's receiver would verify them.

Environment: ESCROW_URL (a running `escrow serve` in development, which accepts a loopback
receiver), ADMIN_EMAIL and ADMIN_PASSWORD (an admin of it), WEBHOOKS_OUT (a file: what the
receiver got is written there, with the secret, for the Node check). Starts its own
receiver on 127.0.0.1; `tests/clients/run.sh` starts the service.
"""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

BASE = os.environ["ESCROW_URL"].rstrip("/")
OUT = os.environ["WEBHOOKS_OUT"]

received = []
lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        with lock:
            received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def call(method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def member(role):
    email = "%s-%s@example.kr" % (role, uuid.uuid4().hex)
    status, body = call("POST", "/auth/signup", body={"email": email, "password": "correct-horse-battery", "name": "웹훅 확인", "role": role})
    assert status == 201, (status, body)
    return login(email, "correct-horse-battery")


def login(email, password):
    status, body = call("POST", "/auth/login", body={"email": email, "password": password})
    assert status == 200, (status, body)
    return body["token"]


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/hook" % server.server_address[1]

    admin = login(os.environ["ADMIN_EMAIL"], os.environ["ADMIN_PASSWORD"])
    status, endpoint = call("POST", "/admin/webhook-endpoints", admin, {"url": url})
    assert status == 201, (status, endpoint)
    secret = endpoint["secret"]

    seller, buyer = member("seller"), member("buyer")
    status, product = call("POST", "/products", seller, {"name": "표준 웹훅 상품", "description": "확인", "price": 15000, "stock": 5})
    assert status == 201, (status, product)
    shipping = {"receiver_name": "홍길동", "receiver_phone": "010-1234-5678", "address": "서울특별시 중구 세종대로 110", "postcode": "04524"}
    orders = 3
    for _ in range(orders):
        status, order = call("POST", "/orders", buyer, {"items": [{"product_id": product["product_id"], "quantity": 1}], "shipping": shipping})
        assert status == 201, (status, order)

    deadline = time.time() + 15
    while time.time() < deadline:
        with lock:
            if len(received) >= orders:
                break
        time.sleep(0.05)
    with lock:
        got = list(received)
    assert len(got) == orders, "the receiver got %d of %d webhooks" % (len(got), orders)

    webhook = Webhook(secret)
    failed = 0
    for request in got:
        try:
            payload = webhook.verify(request["body"], request["headers"])
            assert payload["type"] == "order.created", payload
            print("ok   verified %s %s" % (request["headers"]["webhook-id"], payload["type"]))
        except (WebhookVerificationError, AssertionError) as err:
            failed += 1
            print("FAIL %s: %r" % (request["headers"].get("webhook-id"), err))
        try:
            webhook.verify(request["body"] + " ", request["headers"])
            failed += 1
            print("FAIL a changed body verified")
        except WebhookVerificationError:
            pass
    with open(OUT, "w") as out:
        json.dump({"secret": secret, "received": got}, out)
    server.shutdown()
    print("python standardwebhooks: %d verified, %d failed" % (len(got) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
