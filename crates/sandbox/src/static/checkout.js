/* The sandbox checkout page's script (a file of its own: the page's CSP allows no inline script). */
(function () {
  "use strict";
  var query = new URLSearchParams(window.location.search);
  var mode = query.get("mode") || "callback";
  var impCode = query.get("imp_code");
  // Opened by browser-sdk.js (V2: PortOne.requestPayment) or iamport.js (V1: IMP.request_pay).
  var v2 = query.get("api") === "v2";
  var params = {};
  try { params = JSON.parse(query.get("params") || "{}"); } catch (e) { params = {}; }
  var shown = v2
    ? { name: params.orderName, id: params.paymentId, amount: params.totalAmount,
        escrow: params.isEscrow, vbank: params.payMethod === "VIRTUAL_ACCOUNT" }
    : { name: params.name, id: params.merchant_uid, amount: params.amount,
        escrow: params.escrow, vbank: params.pay_method === "vbank" };
  document.getElementById("product-name").textContent = shown.name || "";
  document.getElementById("merchant-uid").textContent = shown.id || "";
  document.getElementById("amount").textContent =
    (Number(shown.amount) || 0).toLocaleString("ko-KR") + "원";
  document.getElementById("escrow").textContent = shown.escrow ? "예" : "아니오";
  if (shown.vbank) {
    if (v2) {
      document.getElementById("vbank-note").textContent =
        "가상계좌가 발급됩니다. 입금은 샌드박스의 입금 호출(POST _sandbox/payments/{paymentId}/deposit)로 합니다.";
    }
    document.getElementById("card-fields").hidden = true;
    document.getElementById("vbank-note").hidden = false;
    document.getElementById("pay-button").textContent = "가상계좌 발급 (issue account)";
  }

  // Only an http(s) address is followed: a `javascript:` one would run its script on this
  // page's origin, which may be the service's own.
  function webAddress(text) {
    if (typeof text !== "string" || text === "") return null;
    try {
      var url = new URL(text, window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function finish(result) {
    document.getElementById("result").textContent = !result.success
      ? "결제 실패: " + (result.error_msg || "")
      : result.status === "ready"
        ? "가상계좌 발급: " + result.vbank_name + " " + result.vbank_num + " (" + result.imp_uid + ")"
        : "결제 완료: " + result.imp_uid;
    var redirect = mode === "redirect" ? webAddress(params.m_redirect_url) : null;
    if (mode === "redirect" && params.m_redirect_url && !redirect) {
      document.getElementById("result").textContent +=
        " (m_redirect_url must be an http(s) address; not followed)";
    } else if (redirect) {
      var q = new URLSearchParams();
      q.set("imp_uid", result.imp_uid || "");
      q.set("merchant_uid", result.merchant_uid || params.merchant_uid || "");
      q.set("imp_success", result.success ? "true" : "false");
      if (!result.success) q.set("error_msg", result.error_msg || "");
      var url = redirect;
      window.location.href = url + (url.indexOf("?") >= 0 ? "&" : "?") + q.toString();
    } else if (window.parent !== window) {
      window.parent.postMessage({ type: "portone-sandbox:result", result: result }, "*");
    }
  }

  // V2: the answer is {result, text}; the result goes back as V2 has it, the redirect
  // carries its fields as query parameters.
  function finishV2(answer) {
    var result = answer.result || {};
    document.getElementById("result").textContent = answer.text || "";
    var redirect = mode === "redirect" ? webAddress(params.redirectUrl) : null;
    if (mode === "redirect" && params.redirectUrl && !redirect) {
      document.getElementById("result").textContent +=
        " (redirectUrl must be an http(s) address; not followed)";
    } else if (redirect) {
      var q = new URLSearchParams();
      Object.keys(result).forEach(function (key) { q.set(key, result[key]); });
      window.location.href = redirect + (redirect.indexOf("?") >= 0 ? "&" : "?") + q.toString();
    } else if (window.parent !== window) {
      window.parent.postMessage({ type: "portone-sandbox:result", result: result }, "*");
    }
  }

  function submit(action) {
    document.getElementById("pay-button").disabled = true;
    document.getElementById("decline-button").disabled = true;
    // Relative: resolves under the same prefix this page is served from.
    fetch("_sandbox/checkout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        imp_code: impCode,
        params: params,
        card_number: document.getElementById("card-number").value,
        action: action,
        mobile: mode === "redirect"
      })
    })
      .then(function (r) { return r.json(); })
      .then(v2 ? finishV2 : finish)
      .catch(function (e) {
        if (v2) {
          finishV2({ result: { transactionType: "PAYMENT", paymentId: params.paymentId,
                               code: "FAILURE_TYPE_PG", message: String(e) },
                     text: "결제 실패: " + String(e) });
          return;
        }
        finish({ success: false, imp_uid: null, merchant_uid: params.merchant_uid,
                 error_code: "F999", error_msg: String(e) });
      });
  }

  document.getElementById("pay-button").addEventListener("click", function () { submit("pay"); });
  document.getElementById("decline-button").addEventListener("click", function () { submit("decline"); });
})();
