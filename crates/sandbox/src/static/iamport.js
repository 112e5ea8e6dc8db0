/*
 * PortOne (I'mport) V1 browser SDK stand-in served by the escrow sandbox.
 * Same surface as https://cdn.iamport.kr/v1/iamport.js for what the service uses:
 * IMP.init(imp_code) and IMP.request_pay(params, callback).
 * The sandbox base URL is taken from this script's own src, since it is served under a
 * prefix (e.g. /sandbox/portone) inside the service.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var src = script && script.src ? script.src : "/iamport.js";
  var base = src.replace(/\/iamport\.js(?:[?#].*)?$/, "");
  var baseOrigin = new URL(base, window.location.href).origin;
  var impCode = null;
  var active = null;

  function isMobile() {
    return /Mobi|Android|iPhone|iPad|iPod/i.test(navigator.userAgent || "");
  }

  function checkoutUrl(params, mode) {
    var q = new URLSearchParams();
    q.set("imp_code", impCode || "");
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

  function requestPay(params, callback) {
    params = params || {};
    var hasCallback = typeof callback === "function";
    // Like the real SDK: mobile browsers (or pages with no callback) leave for the
    // checkout and come back through m_redirect_url; desktop gets the callback.
    if (params.m_redirect_url && (isMobile() || !hasCallback)) {
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
      if (hasCallback) callback(data.result);
    };
    window.addEventListener("message", listener);
    active = { overlay: overlay, listener: listener };
    document.body.appendChild(overlay);
  }

  window.IMP = {
    init: function (code) {
      impCode = code;
    },
    request_pay: requestPay,
  };
})();
