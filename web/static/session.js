// Warns a logged-in person before the idle timeout and lets them stay
// logged in without leaving the page (and so without losing a half-filled
// form). Without JavaScript the gateway keeps a form posted after the
// timeout and offers it again after the next login.
(function () {
  "use strict";
  var body = document.body;
  var idle = parseInt(body.getAttribute("data-idle"), 10);
  var warn = parseInt(body.getAttribute("data-warn"), 10);
  var box = document.getElementById("idle-warning");
  if (!idle || !warn || !box || !window.fetch) { return; }
  var extend = document.getElementById("idle-extend");
  var expiredText = document.getElementById("idle-expired");
  var warnTimer, endTimer;

  function schedule() {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    warnTimer = setTimeout(function () {
      box.hidden = false;
      extend.focus();
    }, Math.max(0, idle - warn) * 1000);
    endTimer = setTimeout(function () {
      expiredText.hidden = false;
      extend.hidden = true;
    }, idle * 1000);
  }

  extend.addEventListener("click", function (ev) {
    ev.preventDefault();
    fetch("/session/extend", {
      method: "POST",
      credentials: "same-origin",
      redirect: "manual",
      headers: { "X-CSRF-Token": body.getAttribute("data-csrf"), "Accept": "application/json" }
    }).then(function (r) {
      if (r.ok && r.type !== "opaqueredirect") {
        box.hidden = true;
        schedule();
      } else {
        expiredText.hidden = false;
        extend.hidden = true;
      }
    });
  });
  schedule();
})();
