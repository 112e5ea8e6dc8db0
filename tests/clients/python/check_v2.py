"""Cross-check: PortOne's official V2 server SDK for Python (PyPI `portone-server-sdk`)
against the sandbox's V2 face, unchanged but for its base URL (`base_url`).

Environment: V2_SANDBOX_URL (the V2 face served at an origin's root), V2_SECRET,
V2_STORE_ID, V2_WEBHOOK_SECRET. Starts nothing; `tests/clients/run.sh` starts the sandbox.

What the SDK does (0.21.0, httpx): `Authorization: PortOne <secret>`, JSON bodies, list
filters as `requestBody=<JSON>` in the query; any status but 200 is parsed as `{type,
message}` and raised as the typed error of that `type`; every answer is checked against the
schema, so a payment that lacks a field its status requires fails to parse. The checks
assert the typed errors and the parsed classes.
"""

import json
import os
import sys
import threading
import time
import traceback
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from portone_server_sdk import PaymentClient
from portone_server_sdk import errors
from portone_server_sdk import webhook as Webhook
from portone_server_sdk.payment import (
    CancelPaymentBodyRefundAccount,
    CancelledPayment,
    PaidPayment,
    PartialCancelledPayment,
    PaymentFilterInput,
    PaymentLogistics,
)
from portone_server_sdk.payment import VirtualAccountIssuedPayment  # noqa: F401 - checked below

BASE = os.environ["V2_SANDBOX_URL"].rstrip("/")
SECRET = os.environ["V2_SECRET"]
STORE = os.environ["V2_STORE_ID"]
WEBHOOK_SECRET = os.environ["V2_WEBHOOK_SECRET"]
RUN = "py2-%d" % (time.time() * 1000)

client = PaymentClient(secret=SECRET, base_url=BASE, store_id=STORE)
passed = 0
failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
    except Exception:  # noqa: BLE001 - report every failure and go on
        failed += 1
        print("FAIL %s" % name)
        traceback.print_exc(limit=3, file=sys.stdout)
    else:
        passed += 1
        print("ok   %s" % name)


def eq(actual, expected, what=""):
    if actual != expected:
        raise AssertionError("%s: expected %r, got %r" % (what, expected, actual))


def raises(cls, fn):
    try:
        fn()
    except cls:
        return
    except Exception as err:  # noqa: BLE001
        raise AssertionError("expected %s, got %r" % (cls.__name__, err))
    raise AssertionError("expected %s, nothing raised" % cls.__name__)


def control(path, body):
    request = urllib.request.Request(
        BASE + "/_sandbox/" + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def pay(suffix, amount, method="CARD", **extra):
    payment_id = "%s-%s" % (RUN, suffix)
    body = {"payment_id": payment_id, "amount": amount, "pay_method": method}
    body.update(extra)
    control("payments", body)
    return payment_id


def now_rfc3339(offset_s=0):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_s))


def get_paid():
    pid = pay("get", 12000)
    payment = client.get_payment(payment_id=pid)
    if not isinstance(payment, PaidPayment):
        raise AssertionError("not a PaidPayment: %r" % (payment,))
    eq(payment.id, pid, "id")
    eq(payment.amount.total, 12000, "amount.total")
    eq(payment.store_id, STORE, "storeId")


def cancel_partly_then_fully():
    pid = pay("cancel", 10000)
    first = client.cancel_payment(payment_id=pid, amount=3000, reason="partial", current_cancellable_amount=10000)
    eq(first.cancellation.total_amount, 3000, "first cancellation")
    payment = client.get_payment(payment_id=pid)
    if not isinstance(payment, PartialCancelledPayment):
        raise AssertionError("not a PartialCancelledPayment: %r" % (payment,))
    raises(
        errors.CancellableAmountConsistencyBrokenError,
        lambda: client.cancel_payment(payment_id=pid, amount=3000, reason="stale", current_cancellable_amount=10000),
    )
    raises(
        errors.CancelAmountExceedsCancellableAmountError,
        lambda: client.cancel_payment(payment_id=pid, amount=7001, reason="over"),
    )
    client.cancel_payment(payment_id=pid, reason="rest", current_cancellable_amount=7000)
    payment = client.get_payment(payment_id=pid)
    if not isinstance(payment, CancelledPayment):
        raise AssertionError("not a CancelledPayment: %r" % (payment,))
    eq(len(payment.cancellations), 2, "cancellations")
    raises(errors.PaymentAlreadyCancelledError, lambda: client.cancel_payment(payment_id=pid, reason="again"))


def wrong_secret_and_unknown_id():
    wrong = PaymentClient(secret="not-the-secret", base_url=BASE)
    raises(errors.UnauthorizedError, lambda: wrong.get_payment(payment_id=pay("auth", 1000)))
    raises(errors.PaymentNotFoundError, lambda: client.get_payment(payment_id=RUN + "-nobody"))
    raises(errors.PaymentNotFoundError, lambda: client.cancel_payment(payment_id=RUN + "-nobody", reason="x"))


def escrow_logistics():
    pid = pay("escrow", 30000, is_escrow=True)
    applied = client.apply_escrow_logistics(
        payment_id=pid,
        logistics=PaymentLogistics(company="CJ", invoice_number="111", sent_at=now_rfc3339()),
    )
    eq(applied.invoice_number, "111", "applied invoice")
    modified = client.modify_escrow_logistics(
        payment_id=pid,
        logistics=PaymentLogistics(company="HANJIN", invoice_number="222", sent_at=now_rfc3339()),
    )
    eq(modified.invoice_number, "222", "modified invoice")
    client.confirm_escrow(payment_id=pid, from_store=True)
    payment = client.get_payment(payment_id=pid)
    eq(type(payment.escrow).__name__, "ConfirmedPaymentEscrow", "escrow")
    eq(payment.escrow.invoice_number, "222", "escrow invoice")


def virtual_account():
    pid = pay("vbank", 20000, method="VIRTUAL_ACCOUNT")
    issued = client.get_payment(payment_id=pid)
    eq(type(issued).__name__, "VirtualAccountIssuedPayment", "issued class")
    raises(errors.PaymentNotPaidError, lambda: client.cancel_payment(payment_id=pid, reason="unpaid"))
    closed = client.close_virtual_account(payment_id=pid)
    if not closed.closed_at:
        raise AssertionError("no closedAt")
    raises(errors.PaymentNotWaitingForDepositError, lambda: client.close_virtual_account(payment_id=pid))
    # A paid one is refunded into the buyer's account, which the cancel must name.
    paid = pay("vbank-paid", 20000, method="VIRTUAL_ACCOUNT")
    control("payments/%s/deposit" % paid, {})
    answer = client.cancel_payment(
        payment_id=paid,
        amount=5000,
        reason="refund",
        refund_account=CancelPaymentBodyRefundAccount(bank="KOOKMIN", number="12345678901234", holder_name="홍길동"),
    )
    eq(answer.cancellation.total_amount, 5000, "vbank cancellation")


def list_by_cursor():
    since = now_rfc3339(-5)
    ids = [pay("cursor-%d" % i, 1000) for i in range(3)]
    until = now_rfc3339(5)
    seen = []
    cursor = None
    while True:
        page = client.get_all_payments_by_cursor(from_=since, until=until, cursor=cursor, size=2)
        if not page.items:
            break
        seen.extend(item.payment.id for item in page.items)
        cursor = page.items[-1].cursor
    for pid in ids:
        if pid not in seen:
            raise AssertionError("%s not listed: %r" % (pid, seen))
    listed = client.get_payments(filter=PaymentFilterInput(timestamp_type="STATUS_CHANGED_AT", from_=since, until=until))
    if listed.page.total_count < 3:
        raise AssertionError("get_payments found %d" % listed.page.total_count)


class Hooks(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        Hooks.received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def webhook_verifies():
    server = HTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/hook" % server.server_address[1]
        pid = pay("hook", 4000, notice_urls=[url])
        deadline = time.time() + 10
        while not Hooks.received and time.time() < deadline:
            time.sleep(0.05)
        headers, body = Hooks.received[0]
        headers = {k.lower(): v for k, v in headers.items()}
        event = Webhook.verify(WEBHOOK_SECRET, body, headers)
        eq(type(event).__name__, "WebhookTransactionPaid", "webhook class")
        eq(event.data.payment_id, pid, "webhook paymentId")
        raises(Webhook.WebhookVerificationError, lambda: Webhook.verify(WEBHOOK_SECRET, body + " ", headers))
    finally:
        server.shutdown()


check("get a paid payment (PaidPayment)", get_paid)
check("partial and full cancel; stale currentCancellableAmount, over-cancel, already cancelled", cancel_partly_then_fully)
check("wrong secret (UnauthorizedError), unknown id (PaymentNotFoundError)", wrong_secret_and_unknown_id)
check("escrow logistics register, modify, complete", escrow_logistics)
check("virtual account: issued, close, refund account on cancel", virtual_account)
check("payments by cursor and by filter", list_by_cursor)
check("a sandbox webhook verifies with Webhook.verify", webhook_verifies)
print("python portone-server-sdk: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
