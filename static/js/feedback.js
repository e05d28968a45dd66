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

    // "I disagree with the classification" is about the classification unless a part was chosen.
    var section = form.querySelector("select[name='section']");
    if (kind && section) {
      kind.addEventListener("change", function () {
        if (kind.value === "classification" && section.value === "") {
          section.value = "reasoning";
        }
      });
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

  // "Comment on this section": without JavaScript the link reloads the page with the part
  // chosen and jumps to the form; with it, the form opens in place, under the section.
  var home = document.querySelector("#feedback form.feedback-form");
  if (home) {
    var placeholder = document.createComment("feedback form");
    home.parentNode.insertBefore(placeholder, home);
    var box = document.createElement("div");
    box.className = "feedback-in-place";
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn btn-sm btn-outline-secondary mt-2";
    close.textContent = "Close the form";
    close.addEventListener("click", function () {
      var link = box.previousLinkEl;
      placeholder.parentNode.insertBefore(home, placeholder);
      box.remove();
      if (link) { link.focus(); }
    });

    document.querySelectorAll("a.section-feedback").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        var sectionSelect = home.querySelector("select[name='section']");
        var kindSelect = home.querySelector("select[name='kind']");
        if (sectionSelect) { sectionSelect.value = link.dataset.part || ""; }
        if (kindSelect && link.dataset.kind) {
          kindSelect.value = link.dataset.kind;
          kindSelect.dispatchEvent(new Event("change"));
        }
        var anchor = link.closest(".section-head, .title-row, .section-links, p") || link;
        box.previousLinkEl = link;
        box.appendChild(home);
        box.appendChild(close);
        anchor.insertAdjacentElement("afterend", box);
        var first = link.dataset.part ? home.querySelector("textarea[name='comment']") : sectionSelect;
        if (first) { first.focus(); }
      });
    });
  }

  // Coming back with the browser's back button: the buttons work again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form.feedback-form button[type='submit']").forEach(function (b) {
      b.disabled = false;
      b.textContent = "Send feedback";
    });
  });
})();
