// Review and city desks: select-all for batch approval; show only the fields of the chosen decision; a form
// marked data-confirm (a decision, a return: nothing undoes them) asks before it is sent.
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
  document.querySelectorAll("input.select-all").forEach(function (all) {
    var form = all.closest("form");
    all.addEventListener("change", function () {
      form.querySelectorAll("input.batch-pick").forEach(function (box) { box.checked = all.checked; });
    });
  });
  document.querySelectorAll("form.decide-form").forEach(function (form) {
    var select = form.querySelector("select[name$='decision']");
    if (!select) { return; }
    function sync() {
      form.classList.toggle("js-approve", select.value === "approve");
      form.classList.toggle("js-deny", select.value === "deny");
    }
    select.addEventListener("change", sync);
    sync();
  });
  // A material's file opens in the page only when asked for (查看): the review and city pages list many scans.
  document.querySelectorAll("details.viewer[data-src]").forEach(function (box) {
    box.addEventListener("toggle", function () {
      if (!box.open || box.querySelector("iframe, img")) { return; }
      var view = document.createElement(box.dataset.kind === "pdf" ? "iframe" : "img");
      view.src = box.dataset.src;
      if (box.dataset.kind === "pdf") { view.title = box.dataset.title; } else { view.alt = box.dataset.title; }
      box.appendChild(view);
    });
  });
})();
