/* Feedback form: progressive enhancement only. Without JavaScript every field is shown and
   the form works the same; the server checks everything again. */
(function () {
  "use strict";

  function enhance(form) {
    var kind = form.querySelector("select[name='kind']");
    var proposed = form.querySelector("input[name='proposed_category']");
    var proposedBox = proposed && proposed.closest(".mb-3");
    if (kind && proposedBox) {
      var toggle = function () {
        var show = kind.value === "classification" || proposed.value !== "" ||
          proposed.classList.contains("is-invalid");
        proposedBox.hidden = !show;
      };
      kind.addEventListener("change", toggle);
      toggle();
    }

    var comment = form.querySelector("textarea[name='comment']");
    if (comment && comment.maxLength > 0) {
      var counter = document.createElement("p");
      counter.className = "form-text feedback-counter";
      counter.setAttribute("aria-live", "polite");
      counter.id = comment.id + "-counter";
      comment.insertAdjacentElement("afterend", counter);
      var update = function () {
        var left = comment.maxLength - comment.value.length;
        counter.textContent = left + " characters left";
      };
      comment.addEventListener("input", update);
      update();
    }

    form.addEventListener("submit", function () {
      var buttons = form.querySelectorAll("button[type='submit']");
      window.setTimeout(function () {
        buttons.forEach(function (b) { b.disabled = true; b.textContent = "Sending…"; });
      }, 0);
    });
  }

  document.querySelectorAll("form.feedback-form").forEach(enhance);

  // Coming back with the browser's back button: the buttons work again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form.feedback-form button[type='submit']").forEach(function (b) {
      b.disabled = false;
      b.textContent = "Send feedback";
    });
  });
})();
