/* Tag editor (type-ahead over existing tags, add, create inline, remove) and the bulk tag bar's
   row selection on the profiles list and the record lists (rows carry data-profile-id or
   data-row-id). Plain JavaScript; every form also works without it. */
(function () {
  "use strict";
  if (window.crmTagsLoaded) { return; }
  window.crmTagsLoaded = true;

  function postJson(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return {ok: response.ok, status: response.status, data: data};
      });
    });
  }

  function errorMessage(result) {
    var error = result.data && result.data.error;
    if (error && error.fields && error.fields.length) {
      return error.fields.map(function (f) { return f.message; }).join("; ");
    }
    if (error && error.message) { return error.message; }
    return "Something went wrong (HTTP " + result.status + "). Please try again.";
  }

  // Same rule as the server's crm_tag_data: dark or white text, whichever has the higher WCAG contrast.
  function luminance(hex) {
    var sum = 0, weights = [0.2126, 0.7152, 0.0722];
    for (var i = 0; i < 3; i++) {
      var c = parseInt(hex.substr(1 + 2 * i, 2), 16) / 255;
      sum += weights[i] * (c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
    }
    return sum;
  }
  function textColor(hex) {
    if (!/^#[0-9a-fA-F]{6}$/.test(hex || "")) { hex = "#6b7280"; }
    var background = luminance(hex);
    var dark = (background + 0.05) / (luminance("#111827") + 0.05), white = 1.05 / (background + 0.05);
    return dark >= white ? "#111827" : "#ffffff";
  }

  function badge(tag) {
    var span = document.createElement("span");
    span.className = "badge badge-tag";
    span.textContent = tag.name;
    span.title = tag.description || "";
    span.style.setProperty("--tag-color", tag.color || "#6b7280");
    span.style.color = textColor(tag.color);
    return span;
  }

  function setupEditor(editor) {
    var list = editor.querySelector(".tag-list");
    var form = editor.querySelector(".tag-add-form");
    var input = form.querySelector(".tag-input");
    var box = form.querySelector(".tag-suggestions");
    var error = editor.querySelector(".tag-error");
    var csrf = editor.dataset.csrf;
    var options = [];
    var active = -1;
    var timer = null;
    var latest = 0;

    function showError(message) {
      error.textContent = message || "";
      error.hidden = !message;
    }

    function close() {
      box.hidden = true;
      box.innerHTML = "";
      options = [];
      active = -1;
      input.setAttribute("aria-expanded", "false");
    }

    function highlight(index) {
      active = index;
      Array.prototype.forEach.call(box.children, function (li, i) {
        li.classList.toggle("active", i === index);
        li.setAttribute("aria-selected", i === index ? "true" : "false");
      });
    }

    function addItem(tag, source) {
      if (list.querySelector('[data-tag-id="' + tag.id + '"]')) { return; }
      var li = document.createElement("li");
      li.className = "tag-item";
      li.dataset.tagId = tag.id;
      li.appendChild(badge(tag));
      if (editor.dataset.showSource === "yes") {
        var note = document.createElement("span");
        note.className = "tag-source small muted";
        note.textContent = source + " · just now";
        li.appendChild(document.createTextNode(" "));
        li.appendChild(note);
      }
      var removeForm = document.createElement("form");
      removeForm.className = "inline tag-remove-form";
      removeForm.method = "post";
      removeForm.action = editor.dataset.removeUrl;
      var hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = "tag_id";
      hidden.value = tag.id;
      var button = document.createElement("button");
      button.type = "submit";
      button.className = "tag-remove";
      button.title = "Remove";
      button.setAttribute("aria-label", "Remove tag " + tag.name);
      button.textContent = "×";
      removeForm.appendChild(hidden);
      removeForm.appendChild(button);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(removeForm);
      list.appendChild(li);
      var none = editor.querySelector(".tag-none");
      if (none) { none.hidden = true; }
    }

    function add(name) {
      name = (name || "").trim();
      if (!name) { showError("Type a tag name."); return; }
      close();
      postJson(editor.dataset.addUrl, csrf, {name: name}).then(function (result) {
        if (!result.ok) { showError(errorMessage(result)); return; }
        showError("");
        addItem(result.data.tag, result.data.source);
        input.value = "";
        input.focus();
      }).catch(function () { showError("The server could not be reached. Please try again."); });
    }

    function render(tags, text) {
      box.innerHTML = "";
      options = tags.map(function (t) { return {label: t.name, tag: t}; });
      var exact = tags.some(function (t) { return t.name.toLowerCase() === text.toLowerCase(); });
      if (!exact) { options.push({label: "Create “" + text + "”", create: text}); }
      options.forEach(function (option, i) {
        var li = document.createElement("li");
        li.setAttribute("role", "option");
        li.id = "tag-option-" + Math.random().toString(36).slice(2);
        if (option.tag) { li.appendChild(badge(option.tag)); } else { li.textContent = option.label; li.className = "create"; }
        li.addEventListener("mousedown", function (event) {
          event.preventDefault();  // keep the focus in the input
          add(option.tag ? option.tag.name : option.create);
        });
        li.addEventListener("mouseenter", function () { highlight(i); });
        box.appendChild(li);
      });
      box.hidden = options.length === 0;
      input.setAttribute("aria-expanded", box.hidden ? "false" : "true");
      highlight(-1);
    }

    function suggest() {
      var text = input.value.trim();
      if (!text) { close(); return; }
      var ticket = ++latest;
      fetch(editor.dataset.suggestUrl + "?q=" + encodeURIComponent(text), {credentials: "same-origin",
        headers: {"Accept": "application/json"}})
        .then(function (response) { return response.ok ? response.json() : {tags: []}; })
        .then(function (data) { if (ticket === latest) { render(data.tags || [], text); } })
        .catch(function () { close(); });
    }

    input.addEventListener("input", function () {
      showError("");
      clearTimeout(timer);
      timer = setTimeout(suggest, 120);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" && options.length) {
        event.preventDefault();
        highlight((active + 1) % options.length);
      } else if (event.key === "ArrowUp" && options.length) {
        event.preventDefault();
        highlight(active <= 0 ? options.length - 1 : active - 1);
      } else if (event.key === "Escape") {
        close();
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        var option = options[active];
        add(option.tag ? option.tag.name : option.create);
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      add(input.value);
    });
    list.addEventListener("submit", function (event) {
      var removeForm = event.target;
      if (!removeForm.classList.contains("tag-remove-form")) { return; }
      event.preventDefault();
      var item = removeForm.closest(".tag-item");
      postJson(editor.dataset.removeUrl, csrf, {tag_id: Number(item.dataset.tagId)}).then(function (result) {
        if (!result.ok) { showError(errorMessage(result)); return; }
        showError(result.data.suppressed ? "Removed. Automatic rules will not add “" + result.data.tag.name +
          "” back here." : "");
        item.remove();
        var none = editor.querySelector(".tag-none");
        if (none && !list.children.length) { none.hidden = false; }
      }).catch(function () { showError("The server could not be reached. Please try again."); });
    });
  }

  function setupBulkBar(bar) {
    var table = document.getElementById(bar.dataset.table);
    var idsInput = bar.querySelector('input[name="ids"]');
    var selectedScope = bar.querySelector('input[name="scope"][value="selected"]');
    var counter = bar.querySelector(".bulk-selected-count");
    if (!table) { return; }
    var noun = bar.dataset.noun || "profile";
    var rows = table.querySelectorAll("tbody tr[data-profile-id], tbody tr[data-row-id]");
    var headRow = table.querySelector("thead tr");
    var all = document.createElement("input");
    all.type = "checkbox";
    all.setAttribute("aria-label", "Select every row on this page");
    var th = document.createElement("th");
    th.className = "select-col";
    th.appendChild(all);
    headRow.insertBefore(th, headRow.firstChild);
    var boxes = [];
    Array.prototype.forEach.call(rows, function (row) {
      var box = document.createElement("input");
      box.type = "checkbox";
      box.value = row.dataset.profileId || row.dataset.rowId;
      box.setAttribute("aria-label", "Select this " + noun);
      var td = document.createElement("td");
      td.className = "select-col";
      td.appendChild(box);
      row.insertBefore(td, row.firstChild);
      boxes.push(box);
    });

    function update() {
      var chosen = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
      idsInput.value = chosen.join(",");
      counter.textContent = String(chosen.length);
      selectedScope.disabled = chosen.length === 0;
      if (chosen.length) { selectedScope.checked = true; } else if (selectedScope.checked) { selectedScope.checked = false; }
      all.checked = chosen.length === boxes.length && boxes.length > 0;
      all.indeterminate = chosen.length > 0 && chosen.length < boxes.length;
    }
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
      update();
    });
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    bar.querySelector('select[name="segment_id"]')?.addEventListener("change", function () {
      bar.querySelector('input[name="scope"][value="segment"]').checked = true;
    });
    update();
  }

  function start() {
    document.querySelectorAll(".tag-editor").forEach(setupEditor);
    document.querySelectorAll(".bulk-bar[data-table]").forEach(setupBulkBar);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
