// Behaviour every page shares. It lives here, not in the HTML, because the Content-Security-Policy
// runs no inline script, handler or style attribute:
//  - a form or submit button with data-confirm asks before it submits;
//  - a select with data-autosubmit submits its form when it changes;
//  - a tag badge takes its colours from data-tag-color and data-tag-text;
//  - an element with data-share gets the --share custom property (the cohort table's bars);
//  - on narrow screens the top bar's Menu button opens and closes the navigation (Escape closes it);
//  - a table box that scrolls sideways with nothing focusable in it takes focus, so keys scroll it.
// Pages work without it: no question asked, a Show button, default tag colours, the navigation
// always open.
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

  function setUpMenu() {
    var button = document.querySelector(".topbar .menu-toggle");
    var bar = button && button.closest(".topbar");
    if (!bar) { return; }
    function show(open) {
      bar.classList.toggle("menu-open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    button.hidden = false;
    bar.classList.add("has-menu");
    button.addEventListener("click", function () { show(!bar.classList.contains("menu-open")); });
    bar.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && bar.classList.contains("menu-open")) {
        show(false);
        button.focus();
      }
    });
  }

  function focusScrollers() {
    document.querySelectorAll(".table-wrap:not([tabindex])").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth &&
          !box.querySelector("a[href], button, input, select, textarea, summary, [tabindex]")) {
        box.tabIndex = 0;
      }
    });
  }

  function ready() {
    paint(document);
    setUpMenu();
    focusScrollers();
    window.addEventListener("resize", focusScrollers);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
  window.crmPaint = paint;  // for scripts that insert server-rendered badges
})();
