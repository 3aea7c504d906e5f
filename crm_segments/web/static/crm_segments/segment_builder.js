/* Visual rule builder for the segment editor, in plain JavaScript (no library, no CDN).
 *
 * The rule document lives in the form's JSON textarea (which also works without JavaScript); the
 * builder reads it, edits it in place and writes it back. Fields, types, operators and sources
 * come from the engine's rule metadata (embedded as JSON in the page), never from this file.
 * Nodes the builder cannot show (e.g. a nested records condition) stay editable as JSON.
 * Every change asks the server for a preview: count, email / SMS reachability and a sample.
 */
(function () {
  "use strict";

  var previewBox = document.getElementById("segment-preview");
  var form = document.getElementById("segment-form");
  var token = form ? form.querySelector("input[name=csrf_token]").value : null;
  var previewUrl = previewBox ? previewBox.dataset.url : null;
  var segmentId = previewBox && previewBox.dataset.segmentId ? Number(previewBox.dataset.segmentId) : null;
  var timer = null;

  // --- live preview ------------------------------------------------------------------------
  function showPreview(status, body) {
    previewBox.replaceChildren();
    if (status !== 200) {
      var message = body && body.error ? body.error.field + ": " + body.error.message : "preview failed";
      previewBox.append(el("p", {class: "field-error", id: "preview-error"}, message));
      return;
    }
    previewBox.append(
      el("p", {class: "preview-count"}, el("strong", {id: "preview-count"}, body.count.toLocaleString()), " profiles"),
      el("p", {class: "small"}, "Reachable by email: " + body.email_reachable.toLocaleString() +
         " · by SMS: " + body.sms_reachable.toLocaleString()));
    if (body.sample.length) {
      var list = el("ul", {class: "small preview-sample"});
      body.sample.forEach(function (p) {
        list.append(el("li", {}, el("a", {href: p.url}, p.name), p.email ? " · " + p.email : ""));
      });
      previewBox.append(list);
    }
  }

  function requestPreview(payload, delay) {
    clearTimeout(timer);
    timer = setTimeout(function () {
      previewBox.classList.add("loading");
      fetch(previewUrl, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": token},
        body: JSON.stringify(payload)
      }).then(function (response) {
        return response.json().then(function (body) { showPreview(response.status, body); });
      }).catch(function () {
        showPreview(0, null);
      }).finally(function () { previewBox.classList.remove("loading"); });
    }, delay);
  }

  var segmentRoot = document.getElementById("rule-builder");
  var query = document.getElementById("query_sql");
  if (query && !segmentRoot && previewBox) {
    query.addEventListener("input", function () { requestPreview({query_sql: query.value}, 800); });
    if (query.value.trim()) requestPreview({query_sql: query.value}, 0);
  }
  var metaNode = document.getElementById("rule-metadata");
  if (!metaNode) return;

  // --- metadata ----------------------------------------------------------------------------
  var meta = JSON.parse(metaNode.textContent);
  var sources = {};
  meta.sources.forEach(function (s) { sources[s.name] = s; });

  function fieldsFor(scope) { return scope === "profile" ? meta.profile.fields : sources[scope].fields; }
  function fieldInfo(scope, name) {
    if (scope === "profile" && name.indexOf(meta.profile.custom.prefix) === 0) return null;
    return fieldsFor(scope).find(function (f) { return f.name === name; }) || null;
  }
  function opsFor(type) { return meta.types[type] || []; }
  function today() { return new Date().toISOString().slice(0, 10); }

  // --- DOM helper --------------------------------------------------------------------------
  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "on") Object.keys(attrs.on).forEach(function (ev) { node.addEventListener(ev, attrs.on[ev]); });
      else if (attrs[key] !== null && attrs[key] !== undefined && attrs[key] !== false) node.setAttribute(key, attrs[key]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function select(options, value, onChange, label) {
    var s = el("select", {"aria-label": label || null, on: {change: function () { onChange(s.value); }}});
    options.forEach(function (o) {
      var opt = el("option", {value: o.value}, o.label);
      if (String(o.value) === String(value)) opt.selected = true;
      s.append(opt);
    });
    return s;
  }
  function input(type, value, onInput, attrs) {
    var i = el("input", Object.assign({type: type, value: value === undefined || value === null ? "" : value}, attrs || {}));
    i.addEventListener("input", function () { onInput(i.value); });
    return i;
  }
  function button(text, onClick, cls, label) {
    return el("button", {type: "button", class: "btn btn-small " + (cls || ""), "aria-label": label || null,
                         title: label || null, on: {click: onClick}}, text);
  }

  // --- one builder over one JSON textarea ------------------------------------------------------
  // ``withPreview``: the segment editor's builder, whose changes (and typed parameters) ask for a preview.
  function mount(root, textarea, withPreview) {
  var rule;
  try { rule = JSON.parse(textarea.value || "null"); } catch (e) { rule = null; }
  if (!rule || typeof rule !== "object") rule = {all: [newField("profile")]};

  // A built-in's typed parameters: the preview counts with them, as the save will.
  var paramBox = withPreview ? document.getElementById("segment-parameters") : null;
  function parameters() {
    if (!paramBox) return undefined;
    var values = {};
    paramBox.querySelectorAll("[data-param]").forEach(function (input) {
      values[input.dataset.param] = input.multiple ? Array.prototype.map.call(input.selectedOptions,
        function (o) { return o.value; }) : input.value;
    });
    return values;
  }
  if (paramBox) {
    paramBox.addEventListener("input", function () { changed(); });
    paramBox.addEventListener("change", function () { changed(); });
  }

  function changed() {
    textarea.value = JSON.stringify(rule, null, 2);
    if (withPreview) requestPreview({rule: rule, segment_id: segmentId, parameters: parameters()}, 400);
  }
  // Redrawing replaces every control; focus goes back to the control at the same place in the tab
  // order, so a keyboard user stays where they were: on the same select after a change, on the new
  // condition after "+ condition", on the next control after a removal.
  function controls() { return Array.prototype.slice.call(root.querySelectorAll("button, input, select, textarea")); }
  function rerender() {
    var place = root.contains(document.activeElement) ? controls().indexOf(document.activeElement) : -1;
    root.replaceChildren(editor(rule, "profile", function (n) { rule = n; rerender(); }));
    if (place >= 0) {
      var after = controls();
      if (after.length) { after[Math.min(place, after.length - 1)].focus(); }
    }
    changed();
  }

  function newField(scope) {
    var field = fieldsFor(scope)[0];
    var op = opsFor(field.type)[0];
    var node = {field: field.name, op: op.name};
    setDefaultValue(node, field, op);
    return node;
  }
  function setDefaultValue(node, field, op) {
    delete node.value; delete node.unit; delete node.ref;
    var type = field ? field.type : (node.type || "text");
    if (op.value === "none") return;
    if (op.value === "period") { node.value = 30; node.unit = "days"; return; }
    if (op.value === "days") { node.value = 7; return; }
    var one = type === "enum" ? field.choices[0] : type === "number" ? 0 : type === "money" ? "0.00" :
      (type === "date" || type === "datetime") ? today() : "";
    if (op.value === "many") node.value = type === "enum" ? [one] : [];
    else if (op.value === "range") node.value = [one, one];
    else node.value = one;
  }
  function coerce(type, raw) {
    if (type === "number") return raw === "" ? raw : Number(raw);
    return raw;
  }

  // --- editors -----------------------------------------------------------------------------
  // ``parent`` is the scope of the records condition around this one (null at the top): its fields
  // are what a condition may compare with as "parent.<field>".
  function editor(node, scope, replace, parent) {
    if (node && (node.all || node.any)) return groupEditor(node, scope, replace, parent);
    if (node && node.not) return notEditor(node, scope, replace, parent);
    if (node && node.field !== undefined) return fieldEditor(node, scope, parent);
    if (node && node.tags !== undefined && (scope === "profile" || sources[scope].tags)) return tagsEditor(node);
    if (node && node.records !== undefined && Object.keys(node).every(function (k) {
      return ["records", "where", "within", "exists"].indexOf(k) >= 0; })) return recordsEditor(node, scope);
    if (node && node.segment !== undefined && scope === "profile") return segmentEditor(node);
    return rawEditor(node, replace);
  }

  function groupEditor(node, scope, replace, parent) {
    var kind = node.all ? "all" : "any";
    var box = el("div", {class: "rb-group"});
    var head = el("div", {class: "rb-head rb-line"},
      select([{value: "all", label: "All of"}, {value: "any", label: "Any of"}], kind, function (v) {
        node[v] = node[kind]; delete node[kind]; rerender();
      }, "Group type"),
      button("NOT", function () { replace({not: node}); }, "btn-ghost", "NOT: match the opposite of this group"));
    box.append(head);
    var list = el("div", {class: "rb-children"});
    node[kind].forEach(function (child, i) {
      var row = el("div", {class: "rb-row"});
      row.append(editor(child, scope, function (n) { node[kind][i] = n; rerender(); }, parent),
        button("×", function () {
          if (node[kind].length > 1) { node[kind].splice(i, 1); rerender(); }
        }, "btn-ghost rb-remove", "Remove this condition"));
      list.append(row);
    });
    box.append(list);
    var adds = el("div", {class: "rb-adds"},
      button("+ condition", function () { node[kind].push(newField(scope)); rerender(); }),
      button("+ group", function () { node[kind].push({any: [newField(scope)]}); rerender(); }));
    if (scope === "profile" || sources[scope].tags) {
      adds.append(button("+ tags", function () { node[kind].push({tags: ["vip"], match: "any"}); rerender(); }));
    }
    adds.append(button("+ related records", function () {
      node[kind].push({records: scope === "quotes" ? "jobs" : "quotes", exists: true}); rerender();
    }));
    if (scope === "profile") {
      if (meta.segments.length) adds.append(button("+ segment", function () {
        var s = meta.segments[0]; node[kind].push({segment: s.key || s.id}); rerender();
      }));
    }
    box.append(adds);
    return box;
  }

  function notEditor(node, scope, replace, parent) {
    return el("div", {class: "rb-group rb-not"},
      el("div", {class: "rb-head"}, el("strong", {}, "NOT"),
        button("remove NOT", function () { replace(node.not); }, "btn-ghost")),
      editor(node.not, scope, function (n) { node.not = n; rerender(); }, parent));
  }

  function fieldOptions(scope) {
    var groups = {};
    fieldsFor(scope).forEach(function (f) { (groups[f.group || ""] = groups[f.group || ""] || []).push(f); });
    return groups;
  }

  function fieldEditor(node, scope, parent) {
    var info = fieldInfo(scope, node.field);
    var custom = scope === "profile" && !info;
    var type = info ? info.type : (node.type || "text");
    var box = el("div", {class: "rb-condition rb-line"});
    var picker = el("select", {"aria-label": "Field", on: {change: function () {
      if (picker.value === "__custom__") {
        node.field = meta.profile.custom.prefix + "key"; node.type = "text";
      } else { node.field = picker.value; delete node.type; }
      var f = fieldInfo(scope, node.field);
      var op = opsFor(f ? f.type : "text")[0];
      node.op = op.name; setDefaultValue(node, f, op); rerender();
    }}});
    var groups = fieldOptions(scope);
    Object.keys(groups).forEach(function (g) {
      var parent = g ? el("optgroup", {label: g}) : picker;
      groups[g].forEach(function (f) {
        var opt = el("option", {value: f.name}, f.label);
        if (f.name === node.field) opt.selected = true;
        parent.append(opt);
      });
      if (parent !== picker) picker.append(parent);
    });
    if (scope === "profile") {
      var c = el("option", {value: "__custom__"}, "Custom attribute…");
      if (custom) c.selected = true;
      picker.append(c);
    }
    box.append(picker);
    if (custom) {
      box.append(input("text", node.field.slice(meta.profile.custom.prefix.length), function (v) {
        node.field = meta.profile.custom.prefix + v; changed();
      }, {"aria-label": "Attribute key", size: 10}));
      box.append(select(meta.profile.custom.types.map(function (t) { return {value: t, label: t}; }), type,
        function (v) { node.type = v; var op = opsFor(v)[0]; node.op = op.name; setDefaultValue(node, null, op); rerender(); },
        "Attribute type"));
    }
    var ops = opsFor(type);
    var op = ops.find(function (o) { return o.name === node.op; }) || ops[0];
    box.append(select(ops.map(function (o) { return {value: o.name, label: o.label}; }), op.name, function (v) {
      var next = ops.find(function (o) { return o.name === v; });
      var keep = next.value === op.value;
      node.op = v;
      if (!keep) setDefaultValue(node, info, next);
      rerender();
    }, "Operator"));
    var refs = op.ref && op.value === "one" && info ? refChoices(parent, type) : [];
    if (refs.length) {
      // "Relative to the matched record": compare with a field of the enclosing record instead of a
      // fixed value, e.g. a job created after *this* quote was sent.
      var current = node.ref ? node.ref.replace(/^parent\./, "") : "";
      box.append(select([{value: "", label: "a value"}].concat(refs), current, function (v) {
        if (v) { delete node.value; delete node.unit; node.ref = "parent." + v; }
        else setDefaultValue(node, info, op);
        rerender();
      }, "Compare with"));
      if (node.ref) return box;
    }
    valueEditor(box, node, info, type, op);
    return box;
  }

  function family(type) { return type === "money" ? "number" : type; }  // as the server compares
  function refChoices(parent, type) {
    if (!parent) return [];
    var whose = parent === "profile" ? "the profile's " : "this " + sources[parent].singular + "'s ";
    return fieldsFor(parent).filter(function (f) {
      return family(f.type) === family(type) && !f.via && f.name.indexOf(".") < 0;
    }).map(function (f) { return {value: f.name, label: whose + f.label.toLowerCase()}; });
  }

  function oneInput(node, info, type, value, set) {
    if (type === "enum") {
      return select(info.choices.map(function (c) { return {value: c, label: c}; }), value, function (v) { set(v); changed(); }, "Value");
    }
    var kind = type === "number" || type === "money" ? "number" : (type === "date" || type === "datetime") ? "date" : "text";
    var attrs = {"aria-label": "Value"};
    if (type === "money") attrs.step = "0.01";
    if (type === "number") attrs.step = "any";
    return input(kind, value, function (v) { set(coerce(type, v)); changed(); }, attrs);
  }

  function valueEditor(box, node, info, type, op) {
    if (op.value === "none") return;
    if (op.value === "one") {
      box.append(oneInput(node, info, type, node.value, function (v) { node.value = v; }));
    } else if (op.value === "range") {
      if (!Array.isArray(node.value)) node.value = ["", ""];
      box.append(oneInput(node, info, type, node.value[0], function (v) { node.value[0] = v; }), " and ",
        oneInput(node, info, type, node.value[1], function (v) { node.value[1] = v; }));
    } else if (op.value === "many") {
      if (!Array.isArray(node.value)) node.value = [];
      if (type === "enum") {
        var multi = el("select", {multiple: "multiple", "aria-label": "Values", on: {change: function () {
          node.value = Array.prototype.filter.call(multi.options, function (o) { return o.selected; })
            .map(function (o) { return o.value; });
          changed();
        }}});
        info.choices.forEach(function (c) {
          var opt = el("option", {value: c}, c);
          if (node.value.indexOf(c) >= 0) opt.selected = true;
          multi.append(opt);
        });
        box.append(multi);
      } else {
        box.append(input("text", node.value.join(", "), function (v) {
          node.value = v.split(",").map(function (s) { return s.trim(); }).filter(Boolean)
            .map(function (s) { return coerce(type, s); });
          changed();
        }, {"aria-label": "Values, comma separated", placeholder: "a, b, c"}));
      }
    } else if (op.value === "period" || op.value === "days") {
      box.append(input("number", node.value, function (v) { node.value = v === "" ? v : parseInt(v, 10); changed(); },
        {min: 0, "aria-label": "How many", size: 5}));
      if (op.value === "period") {
        box.append(select(meta.units.map(function (u) { return {value: u, label: u}; }), node.unit || "days",
          function (v) { node.unit = v; changed(); }, "Unit"));
      } else box.append(" days");
      if (op.name === "more_than_ago") box.append(" ago");
    }
  }

  function tagsEditor(node) {
    var names = Array.isArray(node.tags) ? node.tags : [node.tags];
    return el("div", {class: "rb-condition rb-line"}, "has ",
      select(meta.tags.match.map(function (m) { return {value: m, label: m === "none" ? "none of" : m + " of"}; }),
        node.match || "any", function (v) { node.match = v; changed(); }, "Match"),
      " the tags ",
      input("text", names.join(", "), function (v) {
        node.tags = v.split(",").map(function (s) { return s.trim(); }).filter(Boolean); changed();
      }, {"aria-label": "Tag names, comma separated"}));
  }

  // One line: "has · quotes · created · in the last · 30 · days", then the conditions on those records.
  function recordsEditor(node, scope) {
    var box = el("div", {class: "rb-group rb-records"});
    var source = sources[node.records];
    var dates = source.window_dates.map(function (name) {
      return source.fields.find(function (f) { return f.name === name; });
    });
    var head = el("div", {class: "rb-head rb-line"},
      select([{value: "true", label: "has"}, {value: "false", label: "has no"}], String(node.exists !== false),
        function (v) { node.exists = v === "true"; changed(); }, "Exists"),
      select(meta.sources.map(function (s) { return {value: s.name, label: s.label.toLowerCase()}; }), node.records,
        function (v) { node.records = v; delete node.where; rerender(); }, "Record type"));
    if (node.within) {
      // The date the window counts from: a picker when the record type has more than one date; the
      // type's default date is written as no "date" at all, so existing rules keep their JSON.
      if (dates.length > 1) {
        head.append(select(dates.map(function (f) { return {value: f.name, label: f.label.toLowerCase()}; }),
          node.within.date || source.date_field, function (v) {
            if (v === source.date_field) delete node.within.date; else node.within.date = v;
            changed();
          }, "Window date"));
      }
      head.append(el("span", {class: "rb-word"}, (dates.length === 1 ? dates[0].label.toLowerCase() + " " : "") + "in the last"),
        input("number", node.within.value, function (v) { node.within.value = parseInt(v, 10) || 0; changed(); },
          {min: 0, "aria-label": "Window"}),
        select(meta.units.map(function (u) { return {value: u, label: u}; }), node.within.unit,
          function (v) { node.within.unit = v; changed(); }, "Window unit"),
        button("×", function () { delete node.within; rerender(); }, "btn-ghost", "Remove the time window"));
    } else {
      head.append(button("+ time window", function () { node.within = {value: 90, unit: "days"}; rerender(); }, "btn-ghost"));
    }
    if (!node.where) {
      head.append(button("+ where", function () { node.where = {all: [newField(node.records)]}; rerender(); }, "btn-ghost"));
    }
    box.append(head);
    if (node.where) {
      box.append(el("div", {class: "small muted"}, "where"),
        editor(node.where, node.records, function (n) { node.where = n; rerender(); }, scope));
    }
    return box;
  }

  function segmentEditor(node) {
    var options = meta.segments.map(function (s) { return {value: s.key || String(s.id), label: s.name}; });
    return el("div", {class: "rb-condition rb-line"}, "is in segment ",
      select(options, node.segment, function (v) {
        var s = meta.segments.find(function (x) { return (x.key || String(x.id)) === v; });
        node.segment = s.key || s.id; changed();
      }, "Segment"));
  }

  function rawEditor(node, replace) {
    var area = el("textarea", {class: "code rb-raw", rows: 4, "aria-label": "Condition as JSON"});
    area.value = JSON.stringify(node, null, 2);
    area.addEventListener("change", function () {
      try { replace(JSON.parse(area.value)); } catch (e) { area.classList.add("invalid"); }
    });
    return el("div", {class: "rb-condition"}, el("span", {class: "small muted"}, "as JSON: "), area);
  }

  // Hand edits of the JSON rebuild the builder.
  textarea.addEventListener("change", function () {
    try { rule = JSON.parse(textarea.value); rerender(); } catch (e) { requestPreview({rule: null}, 0); }
  });
  rerender();
  }

  if (segmentRoot && previewBox) mount(segmentRoot, document.getElementById(segmentRoot.dataset.target), true);
  // A workflow's branch conditions: the same builder over each step's rule box.
  document.querySelectorAll("[data-rule-builder]").forEach(function (box) {
    var area = document.getElementById(box.dataset.target);
    mount(box, area, false);
  });
})();
