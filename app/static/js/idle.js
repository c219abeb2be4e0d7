// The idle-timeout warning of the staff pages (issue 14). The server ends a session after SESSION_IDLE_SECONDS
// without a request (app/web/__init__.py); shortly before that this dialog offers 继续登录, one POST (with the CSRF
// token) to the keep-alive endpoint, which restarts the server's clock. The time of the last request is shared
// through localStorage, so that work in another tab of the same session closes the warning here too. Once the
// time is up the dialog says so and leads to the login page (an intake's typed text is kept by window.js).
(function () {
  "use strict";
  var dialog = document.getElementById("idle-warning");
  if (!dialog || typeof dialog.showModal !== "function") { return; }
  var KEY = "tongquan.lastRequest";
  var idle = parseInt(dialog.getAttribute("data-idle"), 10) * 1000;
  var warn = parseInt(dialog.getAttribute("data-warn"), 10) * 1000;
  var left = dialog.querySelector("[data-testid=idle-left]");
  var expired = false;
  var GRACE = 1500;  // ms past the idle time before the page says the session has ended

  function stored() {
    try { return parseInt(window.localStorage.getItem(KEY), 10) || 0; } catch (e) { return 0; }
  }
  function remember(time) {
    try { window.localStorage.setItem(KEY, String(time)); } catch (e) { /* private mode: this tab alone */ }
  }
  var lastRequest = Date.now();
  remember(lastRequest);

  function show(state) {
    dialog.querySelectorAll("[data-state]").forEach(function (el) {
      el.hidden = el.getAttribute("data-state") !== state;
    });
    if (!dialog.open) { dialog.showModal(); }
  }
  function expire() {
    expired = true;
    show("expired");
  }
  function tick() {
    if (expired) { return; }
    var last = Math.max(lastRequest, stored());
    var remaining = last + idle - Date.now();
    // the server counts whole seconds and ends the session only once more than `idle` have passed since the
    // request it saw last (a moment after this page's clock started): say it has ended once it surely has
    if (remaining <= -GRACE) { expire(); return; }
    if (remaining > warn) {
      if (dialog.open) { dialog.close(); }
      return;
    }
    var seconds = Math.max(0, Math.ceil(remaining / 1000));
    left.textContent = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
    show("warning");
  }

  dialog.querySelector("[data-testid=stay-signed-in]").addEventListener("click", function () {
    var body = new FormData();
    body.append("csrf_token", dialog.getAttribute("data-csrf"));
    fetch(dialog.getAttribute("data-url"), {method: "POST", body: body, credentials: "same-origin",
                                            redirect: "manual"})
      .then(function (response) {
        if (response.status !== 204) { expire(); return; }
        lastRequest = Date.now();
        remember(lastRequest);
        dialog.close();
      })
      .catch(expire);
  });
  dialog.querySelector("[data-testid=sign-in-again]").addEventListener("click", function () {
    window.location.reload();  // the server sends the expired session to the login page, with this page as next
  });
  dialog.addEventListener("cancel", function (event) {
    if (expired) { event.preventDefault(); }  // Esc does not hide that the session has ended
  });
  window.setInterval(tick, 1000);
})();
