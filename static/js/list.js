/* The list's filter form sends only the filters that are set (no "category=&lifecycle="),
   so result URLs stay short and shareable. Without JavaScript the empty ones are sent and
   ignored; the links the server builds carry only set parameters either way. */
(function () {
  "use strict";
  document.querySelectorAll("form.filter-panel").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("input[name], select[name]").forEach(function (field) {
        if (field.value.trim() === "") { field.disabled = true; }
      });
    });
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form.filter-panel [disabled]").forEach(function (field) {
      field.disabled = false;
    });
  });
})();
