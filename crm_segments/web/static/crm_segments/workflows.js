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
