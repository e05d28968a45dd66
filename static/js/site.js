/* Site-wide, loaded in <head> (not deferred, so the page never flashes in the wrong theme):
   - dark mode follows the system setting (Bootstrap 5.3's data-bs-theme);
   - the list's filters open by themselves on wide screens (phones keep "Filters (n)");
   - printing opens collapsed parts (abstracts, citation) and closes them again after. */
(function () {
  "use strict";
  var root = document.documentElement;
  var dark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function applyTheme() { root.setAttribute("data-bs-theme", dark && dark.matches ? "dark" : "light"); }
  applyTheme();
  if (dark && dark.addEventListener) { dark.addEventListener("change", applyTheme); }

  document.addEventListener("DOMContentLoaded", function () {
    var wide = window.matchMedia && window.matchMedia("(min-width: 992px)").matches;
    if (wide) {
      document.querySelectorAll("details.filter-details").forEach(function (d) { d.open = true; });
    }
  });

  var opened = [];
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("main details:not([open])").forEach(function (d) {
      d.open = true;
      opened.push(d);
    });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });
})();
