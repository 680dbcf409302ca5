// Dark mode: the system setting unless the toggle chose otherwise (kept in localStorage).
// Loaded in <head> without defer so the page never paints in the wrong colours.
(function () {
  "use strict";
  var KEY = "tuning-theme";
  function apply(theme) {
    if (theme === "dark" || theme === "light") {
      document.documentElement.setAttribute("data-theme", theme);
    } else {
      document.documentElement.removeAttribute("data-theme");
    }
  }
  var stored = null;
  try { stored = localStorage.getItem(KEY); } catch (e) { /* storage off: follow the system */ }
  apply(stored);
  window.tuningTheme = {
    current: function () {
      var chosen = document.documentElement.getAttribute("data-theme");
      if (chosen) return chosen;
      return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
    },
    toggle: function () {
      var next = this.current() === "dark" ? "light" : "dark";
      apply(next);
      try { localStorage.setItem(KEY, next); } catch (e) { /* not kept */ }
      document.dispatchEvent(new CustomEvent("tuning:theme", { detail: next }));
    },
  };
})();
