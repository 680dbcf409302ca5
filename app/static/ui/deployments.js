// Deployment pages: a playground answer that is an error (the server is not serving, it did
// not answer) is shown in place rather than dropped, and the log tail starts at its end.
(function () {
  "use strict";

  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (source && source.closest("[data-swap-errors]") && event.detail.xhr.status >= 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function scrollLogs(root) {
    root.querySelectorAll("[data-testid=deployment-log]").forEach(function (log) {
      log.scrollTop = log.scrollHeight;
    });
  }

  document.addEventListener("DOMContentLoaded", function () { scrollLogs(document); });
  document.addEventListener("htmx:afterSettle", function (event) { scrollLogs(event.target.parentNode || document); });
})();
