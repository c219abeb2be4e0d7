/* Administration: upload the catalogue with a progress bar. Without JavaScript the form posts as usual. */
(function () {
  "use strict";
  if (!window.XMLHttpRequest || !window.FormData || !window.DOMParser) { return; }

  function attach(form) {
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[type=file]");
      if (!input || !input.files || !input.files.length) { return; }  // the server names the missing file
      event.preventDefault();
      var tooLarge = form.querySelector(".progress-too-large");
      var max = parseInt(form.getAttribute("data-max-bytes") || "0", 10);
      if (max && input.files[0].size > max) { tooLarge.hidden = false; return; }
      tooLarge.hidden = true;
      var bar = form.querySelector("progress");
      var text = form.querySelector(".progress-text");
      var done = form.querySelector(".progress-done");
      var button = form.querySelector("button[type=submit]");
      bar.hidden = false; bar.value = 0; text.hidden = false; done.hidden = true; button.disabled = true;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { bar.value = Math.round(e.loaded * 100 / e.total); }
      });
      xhr.upload.addEventListener("load", function () {
        bar.removeAttribute("value");  // indeterminate while the server checks and imports
        text.hidden = true; done.hidden = false;
      });
      xhr.addEventListener("load", function () {
        var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var main = page.querySelector("main");
        if (!main) { form.submit(); return; }
        document.querySelector("main").replaceWith(document.adoptNode(main));
        if (page.title) { document.title = page.title; }
        attach(document.querySelector("form[data-upload-progress]"));
        var result = document.querySelector("[data-import-result]");
        if (result) { result.scrollIntoView({block: "nearest"}); }
      });
      xhr.addEventListener("error", function () { button.disabled = false; form.submit(); });
      xhr.send(new FormData(form));
    });
  }

  attach(document.querySelector("form[data-upload-progress]"));
})();
