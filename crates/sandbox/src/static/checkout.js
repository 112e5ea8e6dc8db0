/* The sandbox checkout page's script (a file of its own: the page's CSP allows no inline script). */
(function () {
  "use strict";
  var query = new URLSearchParams(window.location.search);
  var mode = query.get("mode") || "callback";
  var impCode = query.get("imp_code");
  var params = {};
  try { params = JSON.parse(query.get("params") || "{}"); } catch (e) { params = {}; }
  document.getElementById("product-name").textContent = params.name || "";
  document.getElementById("merchant-uid").textContent = params.merchant_uid || "";
  document.getElementById("amount").textContent =
    (Number(params.amount) || 0).toLocaleString("ko-KR") + "원";
  document.getElementById("escrow").textContent = params.escrow ? "예" : "아니오";
  if (params.pay_method === "vbank") {
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
      .then(finish)
      .catch(function (e) {
        finish({ success: false, imp_uid: null, merchant_uid: params.merchant_uid,
                 error_code: "F999", error_msg: String(e) });
      });
  }

  document.getElementById("pay-button").addEventListener("click", function () { submit("pay"); });
  document.getElementById("decline-button").addEventListener("click", function () { submit("decline"); });
})();
