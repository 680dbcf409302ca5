// The dataset upload: the file goes up with XMLHttpRequest so the page can show its progress
// (fetch reports none for a request body), with the CSRF token as a header, since the server
// streams the body to disk and never reads it as a form. Done, it opens the new dataset.
(function () {
  "use strict";

  function messageOf(xhr) {
    var type = xhr.getResponseHeader("content-type") || "";
    if (type.indexOf("text/html") >= 0) {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var node = doc.querySelector("[data-testid=error-message]");
      if (node) return node.textContent.trim();
    }
    return "the upload failed (" + (xhr.status || "no answer") + ")";
  }

  function bind(form) {
    var input = form.querySelector("input[type=file]");
    var name = form.querySelector("input[name=name]");
    var bar = form.querySelector("[data-upload-progress]");
    var state = form.querySelector("[data-upload-state]");
    var error = form.querySelector("[data-upload-error]");
    var button = form.querySelector("button[type=submit]");

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var file = input.files && input.files[0];
      if (!file) return;
      var url = form.dataset.uploadUrl;
      if (name && name.value.trim()) url += "?name=" + encodeURIComponent(name.value.trim());
      var body = new FormData();
      body.append("file", file, file.name);

      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRF-Token", window.tuningUi.csrfToken());
      xhr.upload.onprogress = function (progress) {
        if (!progress.lengthComputable) return;
        bar.value = Math.round((progress.loaded / progress.total) * 100);
        state.textContent = bar.value + " % sent";
      };
      xhr.upload.onload = function () {
        bar.value = 100;
        state.textContent = "sent; checking every record…";
      };
      xhr.onload = function () {
        if (xhr.status === 201) {
          state.textContent = "done";
          window.location.assign(JSON.parse(xhr.responseText).url);
          return;
        }
        if (xhr.status === 401) {
          var target = xhr.getResponseHeader("HX-Redirect");
          window.location.assign(target || "/ui/login?next=/ui/datasets");
          return;
        }
        fail(messageOf(xhr));
      };
      xhr.onerror = function () { fail("the connection broke during the upload"); };

      error.hidden = true;
      bar.hidden = false;
      bar.value = 0;
      button.disabled = true;
      state.textContent = "starting…";
      xhr.send(body);
    });

    function fail(message) {
      error.textContent = message;
      error.hidden = false;
      button.disabled = false;
      state.textContent = "";
      bar.hidden = true;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-upload-form]").forEach(bind);
  });
})();
