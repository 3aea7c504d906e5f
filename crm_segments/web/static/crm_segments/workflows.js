// Workflow editor: show only the trigger fields and re-entry days that apply. The form works
// without this script (every field is shown).
(function () {
  "use strict";
  var form = document.getElementById("workflow-editor");
  if (!form) { return; }
  var trigger = form.querySelector("#trigger_type");
  var policy = form.querySelector("#reentry_policy");
  var entity = form.querySelector("#trigger_entity");

  function show(selector, visible) {
    form.querySelectorAll(selector).forEach(function (el) { el.hidden = !visible; });
  }
  function update() {
    var kind = trigger.value;
    ["segment_entered", "tag_added", "date_field"].forEach(function (k) { show(".trigger-" + k, k === kind); });
    show(".trigger-record", kind === "segment_entered" || (kind === "tag_added" && entity.value === "profile"));
    var days = form.querySelector("#reentry_days");
    if (days) { days.closest(".field").hidden = policy.value !== "once_per_days"; }
  }
  [trigger, policy, entity].forEach(function (el) { el.addEventListener("change", update); });
  update();
})();

// Step cards: a send step's message list offers only its channel's messages, and Alt+Up / Alt+Down
// inside a card press its "Move up" / "Move down" button (both buttons work without this script).
(function () {
  "use strict";
  var form = document.getElementById("workflow-editor");
  if (!form) { return; }
  form.querySelectorAll("select[data-channel]").forEach(function (channel) {
    var card = channel.closest("[data-step]");
    var picker = card && card.querySelector("select[data-template]");
    if (!picker) { return; }
    function filter() {
      picker.querySelectorAll("optgroup[data-channel]").forEach(function (group) {
        var other = group.getAttribute("data-channel") !== channel.value;
        group.hidden = other;
        group.disabled = other;
      });
      var chosen = picker.options[picker.selectedIndex];
      if (chosen && chosen.parentElement.disabled) { picker.value = ""; }
    }
    channel.addEventListener("change", filter);
    filter();
  });
  form.addEventListener("keydown", function (event) {
    if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) { return; }
    var card = event.target.closest("[data-step]");
    var button = card && card.querySelector('[data-move="' + (event.key === "ArrowUp" ? "up" : "down") + '"]');
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
    }
  });
})();
