"""Cross-check: the gateway's own Python client (PyPI `iamport-rest-client`) against the
sandbox, unchanged but for its base URL (the constructor's `imp_url` argument).

Environment: SANDBOX_URL (e.g. http://127.0.0.1:8080, the sandbox served at its root),
SANDBOX_KEY, SANDBOX_SECRET. Starts nothing; `tests/clients/run.sh` starts the sandbox.

What the client does on the wire (iamport/client.py, 0.9.0): JSON bodies, a fresh
`POST users/getToken` before every call, the raw token in `Authorization`; any HTTP status
but 200 raises `Iamport.HttpError(status, reason)`, and HTTP 200 with `code != 0` raises
`Iamport.ResponseError(code, message)`. Which of the two a failure raises is part of the
gateway's contract the library exposes, so the checks below assert it.
"""

import json
import os
import sys
import time
import traceback
import urllib.error
import urllib.request

from iamport import Iamport

BASE = os.environ["SANDBOX_URL"].rstrip("/")
KEY = os.environ["SANDBOX_KEY"]
SECRET = os.environ["SANDBOX_SECRET"]
RUN = "py%d" % (time.time() * 1000)

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


def raises(exc_type, fn):
    """Run fn, require it to raise exc_type, return the exception."""
    try:
        result = fn()
    except exc_type as e:
        return e
    except Exception as e:  # noqa: BLE001
        raise AssertionError(
            "expected %s, got %s(%s)"
            % (exc_type.__name__, type(e).__name__, vars(e) if hasattr(e, "__dict__") else e)
        )
    raise AssertionError("expected %s, got a result: %r" % (exc_type.__name__, result))


def control(path, body=None):
    """A sandbox control call (not V1: the client has nothing to do with it)."""
    data = json.dumps(body or {}).encode()
    req = urllib.request.Request(
        BASE + path, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def pay(merchant_uid, amount, **extra):
    body = {"merchant_uid": merchant_uid, "amount": amount}
    body.update(extra)
    return control("/_sandbox/payments", body)


# The library wants the base URL with its trailing slash ('{}users/getToken'.format(url)).
client = Iamport(imp_key=KEY, imp_secret=SECRET, imp_url=BASE + "/")

# ---- token --------------------------------------------------------------------------


def token_issued_and_reused():
    t1 = client._get_token()
    assert isinstance(t1, str) and len(t1) >= 20, t1
    eq(client._get_token(), t1, "same token while valid")


def wrong_credentials_is_http_401():
    bad = Iamport(imp_key=KEY, imp_secret=SECRET + "-wrong", imp_url=BASE + "/")
    e = raises(Iamport.HttpError, bad._get_token)
    eq(e.code, 401, "status")
    e = raises(Iamport.HttpError, lambda: bad.find_by_imp_uid("imp_000000000000"))
    eq(e.code, 401, "status of a call made with bad credentials")


def new_token_after_expiry():
    before = client._get_token()
    control("/_sandbox/tokens/expire")
    # The client asks for a token before every call, so it just works on.
    after = client._get_token()
    assert after != before, "a new token after expiry"
    e = raises(Iamport.HttpError, lambda: client.find_by_imp_uid("imp_000000000000"))
    eq(e.code, 404, "status (authorized with the new token)")


check("token: issued, same while valid", token_issued_and_reused)
check("token: wrong secret -> HttpError 401", wrong_credentials_is_http_401)
check("token: expiry -> a new token, calls go on", new_token_after_expiry)

# ---- prepare ------------------------------------------------------------------------

MID = RUN + "-order"


def prepare_and_validate():
    r = client.prepare(merchant_uid=MID, amount=15000)
    eq(r, {"merchant_uid": MID, "amount": 15000}, "prepare answer")
    eq(client.prepare_validate(merchant_uid=MID, amount=15000), True, "validate same")
    eq(client.prepare_validate(merchant_uid=MID, amount=100), False, "validate other")


def prepare_twice_refused():
    e = raises(Exception, lambda: client.prepare(merchant_uid=MID, amount=15000))
    assert isinstance(e, (Iamport.HttpError, Iamport.ResponseError)), repr(e)


def prepared_unknown_is_http_404():
    e = raises(Iamport.HttpError, lambda: client.prepare_validate(RUN + "-never", 1000))
    eq(e.code, 404, "status")


check("prepare: register, prepare_validate true/false", prepare_and_validate)
check("prepare: same merchant_uid twice refused", prepare_twice_refused)
check("prepare: unknown merchant_uid -> HttpError 404", prepared_unknown_is_http_404)

# ---- find ---------------------------------------------------------------------------

state = {}


def find_by_imp_uid_and_merchant_uid():
    created = pay(MID, 15000, name="의자", buyer_name="홍길동", escrow=True)
    eq(created["status"], "paid", "control pay")
    imp_uid = created["imp_uid"]
    state["imp_uid"] = imp_uid
    p = client.find_by_imp_uid(imp_uid)
    eq(p["imp_uid"], imp_uid, "imp_uid")
    eq(p["merchant_uid"], MID, "merchant_uid")
    eq(p["amount"], 15000, "amount")
    eq(p["cancel_amount"], 0, "cancel_amount")
    eq(p["status"], "paid", "status")
    eq(p["currency"], "KRW", "currency")
    eq(p["escrow"], True, "escrow")
    eq(p["name"], "의자", "name")
    eq(p["buyer_name"], "홍길동", "buyer_name")
    eq(p["cancel_history"], [], "cancel_history")
    assert p["paid_at"] > 0 and p["started_at"] > 0, p
    eq((p["cancelled_at"], p["failed_at"]), (0, 0), "unset timestamps")
    eq(client.find_by_merchant_uid(MID)["imp_uid"], imp_uid, "by merchant_uid")
    eq(client.find(imp_uid=imp_uid)["imp_uid"], imp_uid, "find(imp_uid)")
    eq(client.find(merchant_uid=MID)["imp_uid"], imp_uid, "find(merchant_uid)")
    eq(client.is_paid(15000, imp_uid=imp_uid), True, "is_paid right amount")
    eq(client.is_paid(14999, merchant_uid=MID), False, "is_paid wrong amount")


def find_unknown_is_http_404():
    e = raises(Iamport.HttpError, lambda: client.find_by_imp_uid("imp_000000000000"))
    eq(e.code, 404, "unknown imp_uid")
    e = raises(Iamport.HttpError, lambda: client.find_by_merchant_uid(RUN + "-nobody"))
    eq(e.code, 404, "unknown merchant_uid")
    raises(KeyError, client.find)


check("find: by imp_uid / merchant_uid / find() / is_paid", find_by_imp_uid_and_merchant_uid)
check("find: unknown -> HttpError 404", find_unknown_is_http_404)

# ---- cancel -------------------------------------------------------------------------


def cancel_partial():
    p = client.cancel("partial", imp_uid=state["imp_uid"], amount=5000, checksum=15000)
    eq(p["status"], "paid", "status after partial")
    eq(p["cancel_amount"], 5000, "cancel_amount")
    eq(len(p["cancel_history"]), 1, "history length")
    h = p["cancel_history"][0]
    eq((h["amount"], h["reason"]), (5000, "partial"), "history entry")
    assert p["cancelled_at"] > 0, p


def over_cancel_refused():
    # Gateway: HTTP 200, code != 0 ("응답 코드가 200이라도 code가 0이 아니면 환불 실패").
    e = raises(Iamport.ResponseError, lambda: client.cancel("too much", imp_uid=state["imp_uid"], amount=10001))
    assert e.code != 0 and e.message, vars(e)
    e = raises(
        Iamport.ResponseError,
        lambda: client.cancel("stale", imp_uid=state["imp_uid"], amount=1000, checksum=15000),
    )
    assert e.code != 0 and e.message, vars(e)
    eq(client.find_by_imp_uid(state["imp_uid"])["cancel_amount"], 5000, "nothing done")


def cancel_rest_by_merchant_uid():
    p = client.cancel("rest", merchant_uid=MID)
    eq(p["status"], "cancelled", "status")
    eq(p["cancel_amount"], 15000, "cancel_amount")
    eq([h["amount"] for h in p["cancel_history"]], [5000, 10000], "history")
    eq(client.find_by_merchant_uid(MID)["status"], "cancelled", "re-read")


def cancel_again_refused():
    e = raises(Iamport.ResponseError, lambda: client.cancel("again", imp_uid=state["imp_uid"]))
    eq(e.code, 1, "code")
    eq(e.message, "이미 전액취소된 주문입니다.", "message")


def cancel_unknown_refused():
    # The official client's own tests against the real gateway expect exactly this.
    for kwargs in ({"imp_uid": "nothing"}, {"merchant_uid": RUN + "-any"}, {"imp_uid": "nothing", "amount": 100}):
        e = raises(Iamport.ResponseError, lambda: client.cancel("reason", **kwargs))
        eq(e.code, 1, "code for %r" % kwargs)
        eq(e.message, "취소할 결제건이 존재하지 않습니다.", "message for %r" % kwargs)
    raises(KeyError, lambda: client.cancel("reason", merchant_uid=None))
    raises(TypeError, lambda: client.cancel(imp_uid="nothing"))


check("cancel: partial with checksum stays paid", cancel_partial)
check("cancel: over-cancel / stale checksum -> ResponseError, nothing done", over_cancel_refused)
check("cancel: the rest by merchant_uid -> cancelled", cancel_rest_by_merchant_uid)
check("cancel: already cancelled -> ResponseError code 1", cancel_again_refused)
check("cancel: unknown imp_uid/merchant_uid -> ResponseError code 1", cancel_unknown_refused)

# ---- virtual accounts -----------------------------------------------------------------
# What 0.9.0 offers for virtual accounts: `revoke_vbank_by_imp_uid` (DELETE vbanks/{imp_uid})
# and `cancel(..., refund_holder=, refund_bank=, refund_account=)` (its kwargs go into the
# body as they are). It has no call to issue an account (POST vbanks), to change one (PUT)
# or to look up a holder, so the account is issued through the library's own transport
# `_post`, which is what a merchant using this client would have to do.

DUE = int(time.time()) + 3 * 86400
vbank = {}


def control_status(path, body):
    """A control call whose refusal is part of the check: (HTTP status, JSON answer)."""
    try:
        return 200, control(path, body)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def issue_vbank(merchant_uid, amount):
    return client._post(
        client.imp_url + "vbanks",
        {
            "merchant_uid": merchant_uid,
            "amount": amount,
            "vbank_code": "04",  # KB국민은행 in KG Inicis' own codes
            "vbank_due": DUE,
            "vbank_holder": "에스크로상점",
            "name": "책상",
            "buyer_name": "홍길동",
        },
    )


def vbank_issued_ready():
    p = issue_vbank(RUN + "-vbank", 32000)
    eq((p["status"], p["pay_method"], p["amount"]), ("ready", "vbank", 32000), "issued")
    eq((p["vbank_code"], p["vbank_name"], p["vbank_holder"]), ("004", "KB국민은행", "에스크로상점"), "account")
    eq(p["vbank_date"], DUE, "vbank_date")
    assert p["vbank_num"] and p["vbank_issued_at"] > 0, p
    eq(p["paid_at"], 0, "not paid yet")
    vbank["paid"] = p["imp_uid"]
    eq(client.is_paid(32000, imp_uid=p["imp_uid"]), False, "is_paid while waiting")


def vbank_deposit_pays():
    status, body = control_status("/_sandbox/vbanks/%s/deposit" % vbank["paid"], {"amount": 31000})
    eq(status, 409, "another amount refused")
    status, body = control_status("/_sandbox/vbanks/%s/deposit" % vbank["paid"], {"amount": 32000})
    eq((status, body["status"]), (200, "paid"), "deposit")
    p = client.find_by_imp_uid(vbank["paid"])
    eq((p["status"], p["pay_method"], p["amount"]), ("paid", "vbank", 32000), "found paid")
    assert p["paid_at"] > 0, p
    eq(client.is_paid(32000, merchant_uid=RUN + "-vbank"), True, "is_paid after the deposit")
    e = raises(Iamport.HttpError, lambda: client.revoke_vbank_by_imp_uid(vbank["paid"]))
    eq(e.code, 400, "a paid account is not revoked")


def vbank_cancel_needs_refund_account():
    e = raises(Iamport.ResponseError, lambda: client.cancel("no account", imp_uid=vbank["paid"]))
    eq(e.code, 1, "code")
    e = raises(
        Iamport.ResponseError,
        lambda: client.cancel(
            "KFTC code", imp_uid=vbank["paid"], refund_holder="홍길동", refund_bank="088", refund_account="110-123-456789"
        ),
    )
    eq(e.code, 1, "a bank code not in the PG's format")
    eq(client.find_by_imp_uid(vbank["paid"])["cancel_amount"], 0, "nothing done")


def vbank_cancel_with_refund_account():
    p = client.cancel(
        "refund to the buyer",
        imp_uid=vbank["paid"],
        amount=12000,
        refund_holder="홍길동",
        refund_bank="88",  # 신한은행 in KG Inicis' own codes
        refund_account="110-123-456789",
    )
    eq((p["status"], p["cancel_amount"]), ("paid", 12000), "partial refund")
    p = client.cancel(
        "the rest",
        merchant_uid=RUN + "-vbank",
        refund_holder="홍길동",
        refund_bank="88",
        refund_account="110123456789",
    )
    eq((p["status"], p["cancel_amount"]), ("cancelled", 32000), "full refund")
    eq([h["amount"] for h in p["cancel_history"]], [12000, 20000], "history")


def vbank_revoke_unpaid():
    p = issue_vbank(RUN + "-vbank-unpaid", 9000)
    imp_uid = p["imp_uid"]
    r = client.revoke_vbank_by_imp_uid(imp_uid)
    eq((r["imp_uid"], r["status"]), (imp_uid, "cancelled"), "revoked")
    assert r["cancelled_at"] > 0, r
    eq(client.find_by_imp_uid(imp_uid)["status"], "cancelled", "re-read")
    status, body = control_status("/_sandbox/vbanks/%s/deposit" % imp_uid, {"amount": 9000})
    eq(status, 409, "a transfer into a revoked account is refused")
    e = raises(Iamport.HttpError, lambda: client.revoke_vbank_by_imp_uid(imp_uid))
    eq(e.code, 400, "revoked twice")
    e = raises(Iamport.HttpError, lambda: client.revoke_vbank_by_imp_uid("imp_000000000000"))
    eq(e.code, 404, "unknown imp_uid")


check("vbank: issued (library transport) -> ready, account in the answer", vbank_issued_ready)
check("vbank: deposit (control) -> find_by_imp_uid paid, is_paid; no revoke once paid", vbank_deposit_pays)
check("vbank: cancel without / with a bad refund account -> ResponseError code 1", vbank_cancel_needs_refund_account)
check("vbank: cancel with refund_holder/bank/account, partial then the rest", vbank_cancel_with_refund_account)
check("vbank: revoke_vbank_by_imp_uid of an unpaid account; then 409/400/404", vbank_revoke_unpaid)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
