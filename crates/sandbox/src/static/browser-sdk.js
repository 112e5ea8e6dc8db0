/*
 * PortOne V2 browser SDK stand-in served by the escrow sandbox.
 * Same surface as https://cdn.portone.io/v2/browser-sdk.js for what the service uses:
 * PortOne.requestPayment({storeId, channelKey, paymentId, orderName, totalAmount, currency,
 * payMethod: "CARD" | "VIRTUAL_ACCOUNT", isEscrow, customer, redirectUrl, noticeUrls}),
 * a promise of {transactionType, paymentId, txId} or, on failure, {code, message, paymentId}.
 * The sandbox base URL is taken from this script's own src, since it is served under a
 * prefix (e.g. /sandbox/portone-v2) inside the service.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var src = script && script.src ? script.src : "/browser-sdk.js";
  var base = src.replace(/\/browser-sdk\.js(?:[?#].*)?$/, "");
  var baseOrigin = new URL(base, window.location.href).origin;
  var active = null;

  function isMobile() {
    return /Mobi|Android|iPhone|iPad|iPod/i.test(navigator.userAgent || "");
  }

  function checkoutUrl(params, mode) {
    var q = new URLSearchParams();
    q.set("api", "v2");
    q.set("mode", mode);
    q.set("params", JSON.stringify(params || {}));
    return base + "/checkout?" + q.toString();
  }

  function close() {
    if (active) {
      window.removeEventListener("message", active.listener);
      if (active.overlay.parentNode) active.overlay.parentNode.removeChild(active.overlay);
      active = null;
    }
  }

  function requestPayment(params) {
    params = params || {};
    return new Promise(function (resolve) {
      // Like the real SDK: mobile browsers leave for the checkout and come back through
      // redirectUrl; desktop gets the promise.
      if (params.redirectUrl && isMobile()) {
        window.location.href = checkoutUrl(params, "redirect");
        return;
      }
      close();
      var overlay = document.createElement("div");
      overlay.id = "portone-sandbox-overlay";
      overlay.setAttribute(
        "style",
        "position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.45);" +
          "display:flex;align-items:center;justify-content:center"
      );
      var frame = document.createElement("iframe");
      frame.id = "portone-sandbox-checkout";
      frame.title = "PortOne sandbox checkout";
      frame.src = checkoutUrl(params, "callback");
      frame.setAttribute(
        "style",
        "width:min(420px,95vw);height:min(560px,95vh);border:0;border-radius:8px;background:#fff"
      );
      overlay.appendChild(frame);
      var listener = function (event) {
        if (event.origin !== baseOrigin || event.source !== frame.contentWindow) return;
        var data = event.data || {};
        if (data.type !== "portone-sandbox:result") return;
        close();
        resolve(data.result);
      };
      window.addEventListener("message", listener);
      active = { overlay: overlay, listener: listener };
      document.body.appendChild(overlay);
    });
  }

  window.PortOne = { requestPayment: requestPayment };
})();
