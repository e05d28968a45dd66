/* The feedback queue in the admin: keyboard shortcuts, announced to screen readers.
   Progressive enhancement: every decision is a button of a plain form (POST with the CSRF
   token) that works without this script. */
(function () {
  "use strict";

  var STORE = "fb-queue-row";

  function queue() {
    var table = document.getElementById("result_list");
    if (!table || !document.getElementById("fb-decide")) {
      return null;
    }
    return table;
  }

  function init() {
    var table = queue();
    if (table) {
      initQueue(table);
    }
    initItem();
  }

  function initQueue(table) {
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
    var live = document.getElementById("fb-live");
    var help = document.getElementById("fb-help");
    var current = -1;

    function say(text) {
      if (!live) {
        return;
      }
      live.textContent = "";
      window.setTimeout(function () { live.textContent = text; }, 50);
    }

    function describe(row, index) {
      var comment = row.querySelector(".fb-comment");
      var state = row.querySelector(".field-state");
      var page = row.querySelector(".field-page_col a");
      var text = comment ? comment.textContent.trim() : "";
      if (text.length > 160) {
        text = text.slice(0, 160) + "…";
      }
      return "Item " + (index + 1) + " of " + rows.length + ", " +
        (row.querySelector(".field-item a") || {}).textContent + ", " +
        (page ? page.textContent + ", " : "") +
        (state ? state.textContent.trim() + ". " : "") + text;
    }

    function select(index, announce) {
      if (!rows.length) {
        return;
      }
      index = Math.max(0, Math.min(rows.length - 1, index));
      if (current >= 0 && rows[current]) {
        rows[current].classList.remove("fb-current");
        rows[current].removeAttribute("aria-current");
      }
      current = index;
      var row = rows[current];
      row.classList.add("fb-current");
      row.setAttribute("aria-current", "true");
      var link = row.querySelector(".field-item a");
      if (link) {
        link.focus({ preventScroll: true });
      }
      row.scrollIntoView({ block: "nearest" });
      try { window.sessionStorage.setItem(STORE, String(current)); } catch (e) { /* private mode */ }
      if (announce) {
        say(describe(row, current));
      }
    }

    function press(key) {
      var row = rows[current];
      if (!row) {
        return false;
      }
      var button = row.querySelector("button[data-key='" + key + "']");
      if (!button) {
        say("Not possible on this item.");
        return true;
      }
      say(button.textContent + "…");
      button.click();
      return true;
    }

    function toggleHelp(show) {
      if (!help) {
        return;
      }
      help.hidden = show === undefined ? !help.hidden : !show;
      if (!help.hidden) {
        help.setAttribute("tabindex", "-1");
        help.focus();
        say("Keyboard shortcuts shown. Escape hides them.");
      } else if (rows[current]) {
        select(current, false);
      }
    }

    // Long comments: clamped to three lines, with a button to show the rest.
    rows.forEach(function (row, index) {
      var comment = row.querySelector(".fb-comment");
      if (comment && comment.scrollHeight > comment.clientHeight + 2) {
        var more = document.createElement("button");
        more.type = "button";
        more.className = "fb-more";
        more.textContent = "Show all";
        more.setAttribute("aria-expanded", "false");
        more.setAttribute("aria-controls", comment.id);
        more.addEventListener("click", function () {
          var open = comment.classList.toggle("fb-expanded");
          more.textContent = open ? "Show less" : "Show all";
          more.setAttribute("aria-expanded", open ? "true" : "false");
        });
        comment.insertAdjacentElement("afterend", more);
      }
      row.addEventListener("focusin", function () {
        if (current !== index) {
          if (current >= 0 && rows[current]) {
            rows[current].classList.remove("fb-current");
            rows[current].removeAttribute("aria-current");
          }
          current = index;
          row.classList.add("fb-current");
          row.setAttribute("aria-current", "true");
        }
      });
    });

    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) {
        return;
      }
      var target = event.target;
      var tag = target && target.tagName;
      if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) {
        if (event.key === "Escape" && target.blur) {
          target.blur();
          select(current, false);
        }
        return;
      }
      var handled = true;
      switch (event.key) {
        case "j": select(current + 1, true); break;
        case "k": select(current - 1, true); break;
        case "a": handled = press("a"); break;
        case "r": handled = press("r"); break;
        case "s": handled = press("s"); break;
        case "c": handled = press("c"); break;
        case "x": {
          var box = rows[current] && rows[current].querySelector("input.action-select");
          if (box) {
            box.click();
            say(box.checked ? "Selected." : "Not selected.");
          }
          break;
        }
        case "e": {
          var more = rows[current] && rows[current].querySelector(".fb-more");
          if (more) {
            more.click();
            say(rows[current].querySelector(".fb-comment").textContent.trim());
          } else {
            handled = false;
          }
          break;
        }
        case "o": {
          var link = rows[current] && rows[current].querySelector(".field-item a");
          if (link) {
            window.location.href = link.href;
          }
          break;
        }
        case "?": toggleHelp(); break;
        case "Escape": toggleHelp(false); break;
        default: handled = false;
      }
      if (handled) {
        event.preventDefault();
      }
    });

    // After a decision the queue comes back: the message is read out, and the row at the
    // same place (the next item) is selected.
    var message = document.querySelector(".messagelist li");
    var start = 0;
    try { start = parseInt(window.sessionStorage.getItem(STORE) || "0", 10) || 0; } catch (e) { start = 0; }
    if (rows.length) {
      select(message ? start : 0, false);
      say((message ? message.textContent.trim() + " " : "") + describe(rows[current], current));
    } else if (message) {
      say(message.textContent.trim());
    }
    document.documentElement.setAttribute("data-fb-queue", "ready");
  }

  // The change form: reply templates fill the reply; the mail preview follows it.
  function initItem() {
    var reply = document.getElementById("id_public_reply");
    if (!reply) {
      return;
    }
    var preview = document.getElementById("fb-mail-reply");
    function update() {
      if (preview) {
        // The mail quotes each line of the reply with "> ".
        preview.textContent = (reply.value.trim() || "(no reply)").split(/\r?\n/).join("\n> ");
      }
    }
    Array.prototype.forEach.call(document.querySelectorAll("button[data-reply-template]"), function (button) {
      button.addEventListener("click", function () {
        reply.value = button.getAttribute("data-reply-template");
        var resolution = document.getElementById("id_resolution");
        var wanted = button.getAttribute("data-resolution");
        if (resolution && wanted) {
          resolution.value = wanted;
        }
        reply.focus();
        update();
      });
    });
    reply.addEventListener("input", update);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
