"use strict";
(function () {
  var el = UI.el;
  var schema = JSON.parse(document.getElementById("schema").textContent);
  var form = document.getElementById("settings-form");
  var fieldsBox = document.getElementById("settings-fields");
  var saved = document.getElementById("settings-saved");
  var top = [];                       // {spec, input, initial}
  var lists = { debrids: [], arrs: [] };   // per list: items {orig, fields: [{spec, input}] , node}
  var listsChanged = { debrids: false, arrs: false };

  function textOf(spec, v) {
    if (v === undefined || v === null) return "";
    if (spec.kind === "list") return Array.isArray(v) ? v.join(", ") : String(v);
    if (spec.kind === "json") return (typeof v === "object" && Object.keys(v).length) ? JSON.stringify(v, null, 2) : (typeof v === "object" ? "" : String(v));
    if (spec.kind === "opt_bool") return v === true ? "true" : v === false ? "false" : "";
    return String(v);
  }

  function makeInput(spec, id) {
    var input;
    if (spec.kind === "bool") {
      input = el("input", { type: "checkbox", id: id });
    } else if (spec.kind === "choice" || spec.kind === "opt_bool") {
      var choices = spec.kind === "choice" ? spec.choices : ["", "true", "false"];
      input = el("select", { id: id }, choices.map(function (c) { return el("option", { value: c }, c === "" ? "(default)" : c); }));
    } else if (spec.kind === "json") {
      input = el("textarea", { id: id, rows: "4", className: "mono", placeholder: JSON.stringify(spec["default"]) });
    } else {
      var ph = spec["default"];
      input = el("input", { id: id, type: "text", autocomplete: "off",
                            placeholder: Array.isArray(ph) ? ph.join(", ") : (ph === null || ph === undefined ? "" : String(ph)) });
    }
    input.dataset.key = id.replace(/^f-/, "");
    return input;
  }

  function setValue(spec, input, v) {
    if (spec.kind === "bool") input.checked = v === undefined || v === null ? !!spec["default"] : v === true || v === "true";
    else if (spec.kind === "choice") input.value = (v === undefined || v === null || v === "") ? spec["default"] : String(v).toLowerCase();
    else input.value = textOf(spec, v);
  }

  function current(spec, input) { return spec.kind === "bool" ? input.checked : input.value; }

  // The value to post for a field, or throws an Error meant for that field.
  function valueOf(spec, input) {
    var t = spec.kind === "bool" ? null : input.value.trim();
    switch (spec.kind) {
      case "bool": return input.checked;
      case "int": return t === "" ? spec["default"] : (/^-?\d+$/.test(t) ? Number(t) : t);
      case "opt_int": return t === "" ? null : (/^-?\d+$/.test(t) ? Number(t) : t);
      case "duration": return t === "" ? spec["default"] : t;
      case "list": return t === "" ? [] : t.split(/[\s,]+/).filter(Boolean);
      case "opt_bool": return t === "" ? null : t === "true";
      case "json":
        if (t === "") return {};
        try { return JSON.parse(t); } catch (e) { throw new Error("not valid JSON: " + e.message); }
      default: return t;
    }
  }

  function errorSpan(key) { return el("span", { className: "field-error", dataset: { errorFor: key }, hidden: true }); }

  function fieldRow(spec, key, label) {
    var input = makeInput(spec, "f-" + key);
    var badge = spec.now ? el("span", { className: "badge now", title: "applies at once" }, "now")
                         : el("span", { className: "badge", title: "takes effect at the next start" }, "restart");
    var row = el("div", { className: "field" + (spec.kind === "bool" ? " field-bool" : "") },
      el("label", { "for": "f-" + key }, label, " ", badge), input,
      spec.help ? el("span", { className: "hint" }, spec.help) : null, errorSpan(key));
    return { row: row, input: input };
  }

  function buildTop(config) {
    schema.sections.forEach(function (section) {
      var card = el("section", { className: "card" }, el("h2", null, section.section));
      var grid = el("div", { className: "fields" });
      section.fields.forEach(function (spec) {
        var f = fieldRow(spec, spec.key, spec.key);
        var v = spec.key.split(".").reduce(function (o, k) { return o && typeof o === "object" ? o[k] : undefined; }, config);
        setValue(spec, f.input, v);
        top.push({ spec: spec, input: f.input, initial: current(spec, f.input) });
        grid.appendChild(f.row);
      });
      card.appendChild(grid);
      fieldsBox.appendChild(card);
    });
  }

  function renumber(name) {
    lists[name].forEach(function (item, i) {
      item.fields.forEach(function (f) {
        var key = name + "[" + i + "]." + f.spec.key;
        f.input.id = "f-" + key;
        f.input.dataset.key = key;
        f.label.setAttribute("for", "f-" + key);
        f.error.dataset.errorFor = key;
      });
      item.title.textContent = name === "debrids" ? "Account " + (i + 1) : "Arr " + (i + 1);
    });
  }

  function addItem(name, value, orig) {
    var specs = schema[name];
    var item = { orig: orig, fields: [] };
    var grid = el("div", { className: "fields" });
    specs.forEach(function (spec) {
      var f = fieldRow(spec, name + "[x]." + spec.key, spec.key);
      setValue(spec, f.input, value ? value[spec.key] : undefined);
      item.fields.push({ spec: spec, input: f.input, label: f.row.querySelector("label"), error: f.row.querySelector(".field-error") });
      grid.appendChild(f.row);
    });
    item.title = el("h3", null);
    item.node = el("div", { className: "item" },
      el("div", { className: "toolbar" }, item.title,
         el("button", { type: "button", className: "danger small", onclick: function () {
           lists[name].splice(lists[name].indexOf(item), 1);
           item.node.remove();
           listsChanged[name] = true;
           renumber(name);
         } }, "Remove")),
      grid, errorSpan(name + "-item"));
    item.node.addEventListener("input", function () { listsChanged[name] = true; });
    item.node.addEventListener("change", function () { listsChanged[name] = true; });
    lists[name].push(item);
    document.getElementById(name).appendChild(item.node);
    renumber(name);
    return item;
  }

  function setPath(obj, key, value) {
    var parts = key.split("."), node = obj;
    parts.slice(0, -1).forEach(function (p) { node = node[p] = node[p] || {}; });
    node[parts[parts.length - 1]] = value;
  }

  function clearFieldErrors() {
    document.querySelectorAll(".field-error[data-error-for]").forEach(function (s) { s.hidden = true; s.textContent = ""; });
    document.querySelectorAll(".invalid").forEach(function (n) { n.classList.remove("invalid"); });
  }

  // Show a message next to the field named by key (or its nearest named parent).
  function fieldError(key, message) {
    var probe = key;
    while (probe) {
      var span = document.querySelector('.field-error[data-error-for="' + CSS.escape(probe) + '"]');
      if (span) {
        span.textContent = message;
        span.hidden = false;
        var input = document.getElementById("f-" + probe);
        if (input) { input.classList.add("invalid"); input.focus(); }
        return true;
      }
      var cut = Math.max(probe.lastIndexOf("."), probe.lastIndexOf("["));
      probe = cut > 0 ? probe.slice(0, cut) : "";
    }
    return false;
  }

  function collect() {
    var body = {}, problems = [];
    top.forEach(function (f) {
      if (current(f.spec, f.input) === f.initial) return;
      try { setPath(body, f.spec.key, valueOf(f.spec, f.input)); } catch (e) { problems.push([f.spec.key, e.message]); }
    });
    ["debrids", "arrs"].forEach(function (name) {
      if (!listsChanged[name]) return;
      body[name] = lists[name].map(function (item, i) {
        var out = {};
        item.fields.forEach(function (f) {
          var key = name + "[" + i + "]." + f.spec.key;
          try {
            var v = valueOf(f.spec, f.input);
            var masked = typeof v === "string" ? v.indexOf("****") === 0 : Array.isArray(v) && v.some(function (x) { return String(x).indexOf("****") === 0; });
            if (masked && item.orig !== i) {
              problems.push([key, "enter this secret again: the entry moved in the list, so the stored one cannot be matched"]);
            }
            if (f.spec.key === "rate_limit" && v === "") return;
            out[f.spec.key] = v;
          } catch (e) { problems.push([key, e.message]); }
        });
        return out;
      });
    });
    return { body: body, problems: problems };
  }

  function load() {
    return UI.api("GET", "/api/config").then(function (config) {
      config = config || {};
      buildTop(config);
      (config.debrids || []).forEach(function (d, i) { addItem("debrids", d, i); });
      (config.arrs || []).forEach(function (a, i) { addItem("arrs", a, i); });
      listsChanged = { debrids: false, arrs: false };
    });
  }

  function reset(config) {
    UI.clear(fieldsBox); UI.clear(document.getElementById("debrids")); UI.clear(document.getElementById("arrs"));
    top = []; lists = { debrids: [], arrs: [] };
    buildTop(config);
    (config.debrids || []).forEach(function (d, i) { addItem("debrids", d, i); });
    (config.arrs || []).forEach(function (a, i) { addItem("arrs", a, i); });
    listsChanged = { debrids: false, arrs: false };
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    UI.clearError();
    clearFieldErrors();
    saved.hidden = true;
    var c = collect();
    if (c.problems.length) {
      c.problems.forEach(function (p) { fieldError(p[0], p[1]); });
      UI.showError("Fix the marked fields: nothing was saved");
      return;
    }
    if (!Object.keys(c.body).length) { UI.flash(saved, "Nothing changed"); return; }
    UI.api("POST", "/api/config", c.body).then(function (config) {
      reset(config || {});
      var now = Object.keys(c.body).every(function (k) { return k === "log_level" || k === "notifications"; });
      UI.flash(saved, now ? "Saved; applied at once" : "Saved; takes effect at the next start of the gateway");
    }, function (e) {
      var m = /^config: ([^:]+): ([\s\S]*)$/.exec(e.message);
      if (m && fieldError(m[1], m[2])) UI.showError("Not saved: " + m[1] + ": " + m[2]);
      else UI.showError("Not saved: " + e.message);
    });
  });

  document.getElementById("add-debrid").addEventListener("click", function () {
    var item = addItem("debrids", null, null);
    listsChanged.debrids = true;
    item.fields[0].input.focus();
  });
  document.getElementById("add-arr").addEventListener("click", function () {
    var item = addItem("arrs", null, null);
    listsChanged.arrs = true;
    item.fields[0].input.focus();
  });

  // ------------------------------------------------------------------ auth
  var tokenInput = document.getElementById("api-token");
  var tokenMsg = document.getElementById("token-msg");
  function loadAuth() {
    return UI.api("GET", "/api/auth").then(function (a) {
      document.getElementById("auth-username").textContent = a.username || "(none yet)";
      tokenInput.value = a.api_token || "";
    });
  }
  document.getElementById("token-copy").addEventListener("click", function () {
    var done = function () { UI.flash(tokenMsg, "Copied"); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(tokenInput.value).then(done, function (e) { UI.showError("Copy failed: " + e.message); });
    } else {   // plain http on another host: the Clipboard API is not there
      tokenInput.select();
      try { document.execCommand("copy"); done(); } catch (e) { UI.showError("Copy failed: select the token and copy it"); }
    }
  });
  document.getElementById("token-refresh").addEventListener("click", function () {
    if (!window.confirm("Make a new API token? The current one stops working at once: update Sonarr, Radarr and scripts.")) return;
    UI.api("POST", "/api/refresh-token").then(function (a) { tokenInput.value = a.api_token; UI.flash(tokenMsg, "New token made"); },
                                                function (e) { UI.showError(e.message); });
  });
  var pwForm = document.getElementById("password-form");
  var pwError = document.getElementById("pw-error"), pwOk = document.getElementById("pw-ok");
  pwForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    pwError.hidden = true; pwOk.hidden = true;
    UI.api("POST", "/api/auth/password", { current_password: document.getElementById("pw-current").value,
                                           new_password: document.getElementById("pw-new").value })
      .then(function () { pwForm.reset(); UI.flash(pwOk, "Password changed"); },
            function (e) { UI.flash(pwError, e.status === 401 ? "The current password is wrong" : e.message); });
  });

  Promise.all([load(), loadAuth()]).catch(function (e) { UI.showError(e.message); });
})();
