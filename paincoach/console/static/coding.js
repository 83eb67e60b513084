/* PainCoach research console: turn a text selection inside one message into the coding form's
   event id and character offsets. Offsets count Unicode code points, as the server and the
   REFI-QDA export do (the browser counts UTF-16 units: an emoji is two of those, one of ours).
   No build step, no library; the form works without this script (the fields can be typed). */
(function () {
  "use strict";

  function codePoints(text) {
    return Array.from(text).length;
  }

  function messageOf(node) {
    var element = node && node.nodeType === Node.ELEMENT_NODE ? node : node && node.parentElement;
    return element ? element.closest(".message-text[data-codable='true']") : null;
  }

  function offsetIn(message, container, offset) {
    var before = document.createRange();
    before.setStart(message, 0);
    before.setEnd(container, offset);
    return codePoints(before.toString());
  }

  function fill(message, start, end) {
    var form = document.getElementById("coding-form");
    if (!form) {
      return;
    }
    form.elements.event_id.value = message.dataset.eventId;
    form.elements.start.value = String(start);
    form.elements.end.value = String(end);
    var words = Array.from(message.textContent).slice(start, end).join("");
    var shown = document.getElementById("selection-text");
    shown.textContent = "\u201c" + words + "\u201d";
    shown.dataset.eventId = message.dataset.eventId;
  }

  function readSelection() {
    var selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) {
      return;
    }
    var range = selection.getRangeAt(0);
    var message = messageOf(range.startContainer);
    if (!message || message !== messageOf(range.endContainer)) {
      return; // a selection across two messages is not one span
    }
    var start = offsetIn(message, range.startContainer, range.startOffset);
    var end = offsetIn(message, range.endContainer, range.endOffset);
    if (end > start) {
      fill(message, start, end);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.body.classList.add("js");
    document.addEventListener("mouseup", readSelection);
    document.addEventListener("keyup", function (event) {
      if (event.shiftKey || event.key === "Shift") {
        readSelection();
      }
    });
    document.querySelectorAll("[data-whole]").forEach(function (button) {
      button.addEventListener("click", function () {
        var message = document.querySelector(
          ".message-text[data-event-id='" + button.dataset.whole + "']"
        );
        if (message) {
          fill(message, 0, codePoints(message.textContent));
          document.getElementById("coding-form").scrollIntoView({ block: "nearest" });
        }
      });
    });
  });
})();
