/* County window desk: check the 18-character unified social credit code (GB 32100) or resident ID number
   (GB 11643) as the clerk types; the server's check stays authoritative. Ticking a material when a file is chosen. */
(function () {
  "use strict";
  var CREDIT = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  var CREDIT_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  var ID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var ID_CHECK = "10X98765432";

  function normalise(s) {  // full-width input (Chinese IMEs) to ASCII, as the server's NFKC does
    return s.replace(/[\uff01-\uff5e]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) - 0xfee0); })
      .trim().toUpperCase();
  }
  function creditOk(code) {
    var total = 0;
    for (var i = 0; i < 17; i++) {
      var v = CREDIT.indexOf(code.charAt(i));
      if (v < 0) { return false; }
      total += v * CREDIT_W[i];
    }
    return CREDIT.charAt((31 - total % 31) % 31) === code.charAt(17);
  }
  function residentOk(code) {
    if (!/^\d{17}[\dX]$/.test(code)) { return false; }
    var total = 0;
    for (var i = 0; i < 17; i++) { total += parseInt(code.charAt(i), 10) * ID_W[i]; }
    return ID_CHECK.charAt(total % 11) === code.charAt(17);
  }
  function kind(form) {
    var checked = form.querySelector('input[name="applicant_kind"]:checked');
    return checked ? checked.value : "enterprise";
  }
  function check(input) {
    var out = input.parentNode.querySelector(".id-check");
    if (!out) { return; }
    var code = normalise(input.value);
    out.className = "id-check";
    if (!code) { out.textContent = ""; return; }
    if (code.length !== 18) {
      out.textContent = code.length > 18 ? input.dataset.msgLength : "";
      if (code.length > 18) { out.className = "id-check bad"; }
      return;
    }
    var ok = kind(input.form) === "enterprise" ? creditOk(code) : residentOk(code);
    out.textContent = ok ? input.dataset.msgOk : input.dataset.msgBad;
    out.className = "id-check " + (ok ? "good" : "bad");
  }
  document.querySelectorAll("input[data-id-check]").forEach(function (input) {
    input.addEventListener("input", function () { check(input); });
    input.form.querySelectorAll('input[name="applicant_kind"]').forEach(function (radio) {
      radio.addEventListener("change", function () { check(input); });
    });
    check(input);
  });
  document.querySelectorAll("input[type=file][data-present]").forEach(function (file) {
    file.addEventListener("change", function () {
      var box = document.getElementById(file.dataset.present);
      if (box && file.files.length) { box.checked = true; }
    });
  });
  // Hand-out: the waybill and the address only matter for mail (both asked at once, as the server does).
  document.querySelectorAll('input[name="method"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      ["tracking_no", "address"].forEach(function (name) {
        var input = radio.form.querySelector('input[name="' + name + '"]');
        if (input) { input.required = radio.value === "mail" && radio.checked; }
      });
    });
  });
})();
/* Never lose the clerk's work (issue 14): a refused form opens at its error summary; choosing files for a
   material in an action form ticks that material. */
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (summary) { summary.scrollIntoView({block: "start"}); summary.focus({preventScroll: true}); }
  document.querySelectorAll("input[type=file][data-tick]").forEach(function (file) {
    file.addEventListener("change", function () {
      var box = document.querySelector('input[data-testid="' + file.dataset.tick + '"]');
      if (box && file.files.length) { box.checked = true; }
    });
  });
})();
/* The intake form's typed text survives an expired session (issue 14): kept in this tab's sessionStorage (never
   localStorage: a window PC is shared, and the tab's storage goes with the tab) while typed, put back when the
   form is opened again empty (after logging in again), and dropped once a case page shows the case registered. */
(function () {
  "use strict";
  var KEY = "tq-intake:";
  if (/^\/window\/cases\//.test(window.location.pathname)) {
    Object.keys(window.sessionStorage).forEach(function (k) {
      if (k.indexOf(KEY) === 0) { window.sessionStorage.removeItem(k); }
    });
    return;
  }
  var form = document.querySelector("form[data-testid=intake-form]");
  if (!form) { return; }
  var key = KEY + window.location.pathname;
  var fields = form.querySelectorAll("input[type=text], input:not([type]), textarea");
  // the applicant's kind and the materials ticked are the clerk's work too (an individual's ID number put back
  // under 企业 reads as a wrong check character); a held draft's box is the server's and stays out
  var choices = form.querySelectorAll('input[name="applicant_kind"], input[name="present"]');
  var saved = {};
  try { saved = JSON.parse(window.sessionStorage.getItem(key) || "{}"); } catch (e) { saved = {}; }
  var empty = Array.prototype.every.call(fields, function (f) { return !f.value; });
  if (empty) {
    fields.forEach(function (f) {
      if (f.name && saved[f.name]) { f.value = saved[f.name]; }
    });
    if (saved["choices:"]) {
      choices.forEach(function (c) { c.checked = saved["choices:"].indexOf(c.name + "=" + c.value) >= 0; });
    }
    fields.forEach(function (f) { if (f.value) { f.dispatchEvent(new Event("input", {bubbles: true})); } });
  }
  function save() {
    var data = {"choices:": []};
    fields.forEach(function (f) { if (f.name && f.value) { data[f.name] = f.value; } });
    choices.forEach(function (c) { if (c.checked) { data["choices:"].push(c.name + "=" + c.value); } });
    window.sessionStorage.setItem(key, JSON.stringify(data));
  }
  form.addEventListener("input", save);
  form.addEventListener("change", save);
})();
