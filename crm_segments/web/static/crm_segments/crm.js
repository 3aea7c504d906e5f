// Behaviour every page shares. It lives here, not in the HTML, because the Content-Security-Policy
// runs no inline script, handler or style attribute:
//  - a form or submit button with data-confirm asks before it submits;
//  - a select with data-autosubmit submits its form when it changes;
//  - a tag badge takes its colours from data-tag-color and data-tag-text;
//  - an element with data-share gets the --share custom property (the cohort table's bars).
// Pages work without it: no question asked, a Show button, default tag colours.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var question = (button && button.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); event.stopImmediatePropagation(); }
  }, true);

  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.matches && field.matches("select[data-autosubmit]") && field.form) {
      field.form.requestSubmit();
    }
  });

  function paint(root) {
    root.querySelectorAll("[data-tag-color]").forEach(function (badge) {
      badge.style.setProperty("--tag-color", badge.getAttribute("data-tag-color"));
      badge.style.color = badge.getAttribute("data-tag-text");
    });
    root.querySelectorAll("[data-share]").forEach(function (cell) {
      cell.style.setProperty("--share", cell.getAttribute("data-share") + "%");
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { paint(document); });
  } else {
    paint(document);
  }
  window.crmPaint = paint;  // for scripts that insert server-rendered badges
})();
