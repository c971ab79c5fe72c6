"use strict";
// The usenet servers editor, on the settings and setup pages: add, edit, remove, a live login
// check per server, and its own Save (POST /api/config {"usenet": {"providers": [...]}}).
// Kept apart from settings.js: the rest of the settings form is generated elsewhere.
// Passwords come from the API masked ("****" + last 4) and are posted back masked when
// unchanged, so the stored one is kept; the clear text never reaches the page.
(function () {
  var el = UI.el;
  var box = document.getElementById("usenet-servers");
  var specsNode = document.getElementById("usenet-schema");
  if (!box || !specsNode) return;
  var specs = JSON.parse(specsNode.textContent);
  var saved = document.getElementById("usenet-saved");
  var items = [];   // {orig, fields: {key: {spec, input}}, node, title, result}
  var loaded = false;   // the stored servers are shown (setup loads them only once logged in)

  function inputFor(spec, id, value) {
    var input;
    if (spec.kind === "bool") {
      input = el("input", { type: "checkbox", id: id });
      input.checked = value === true;
    } else {
      var type = spec.kind === "secret" ? "password" : "text";
      input = el("input", { type: type, id: id, autocomplete: spec.kind === "secret" ? "new-password" : "off",
                            placeholder: spec["default"] === null || spec["default"] === undefined ? "" : String(spec["default"]) });
      input.value = value === undefined || value === null ? "" : String(value);
    }
    return input;
  }

  function valueOf(spec, input) {
    if (spec.kind === "bool") return input.checked;
    var t = input.value.trim();
    if (spec.kind === "int") return t === "" ? spec["default"] : (/^\d+$/.test(t) ? Number(t) : t);
    if (spec.kind === "opt_int") return t === "" ? null : (/^\d+$/.test(t) ? Number(t) : t);
    return spec.kind === "secret" ? input.value : t;
  }

  function serverOf(item) {
    var out = {};
    specs.forEach(function (spec) { out[spec.key] = valueOf(spec, item.fields[spec.key].input); });
    return out;
  }

  function renumber() {
    items.forEach(function (item, i) {
      item.title.textContent = "Server " + (i + 1);
      item.node.dataset.index = String(i);
    });
  }

  function check(item) {
    var result = item.result;
    result.hidden = false;
    result.className = "hint usenet-result";
    result.textContent = "Checking…";
    var server = serverOf(item);
    if (item.orig === null && String(server.password).indexOf("****") === 0) server.password = "";
    UI.api("POST", "/api/setup/usenet-check", server).then(function (answer) {
      result.className = answer.ok ? "ok usenet-result" : "field-error usenet-result";
      result.textContent = answer.ok ? "Login works (" + answer.server + ")" : "Login failed: " + answer.error;
    }, function (e) {
      result.className = "field-error usenet-result";
      result.textContent = "Check failed: " + e.message;
    });
  }

  function add(value, orig) {
    var item = { orig: orig, fields: {} };
    var grid = el("div", { className: "fields" });
    specs.forEach(function (spec) {
      var id = "usenet-" + Math.random().toString(36).slice(2) + "-" + spec.key;
      var input = inputFor(spec, id, value ? value[spec.key] : spec["default"]);
      input.dataset.field = spec.key;
      item.fields[spec.key] = { spec: spec, input: input };
      grid.appendChild(el("div", { className: "field" + (spec.kind === "bool" ? " field-bool" : "") },
        el("label", { "for": id }, spec.key), input, spec.help ? el("span", { className: "hint" }, spec.help) : null));
    });
    item.title = el("h3", null);
    item.result = el("p", { className: "hint usenet-result", hidden: true });
    item.node = el("div", { className: "item usenet-server" },
      el("div", { className: "toolbar" }, item.title,
        el("button", { type: "button", className: "secondary small usenet-check", onclick: function () { check(item); } }, "Check login"),
        el("button", { type: "button", className: "danger small usenet-remove", onclick: function () {
          items.splice(items.indexOf(item), 1);
          item.node.remove();
          renumber();
        } }, "Remove")),
      grid, item.result);
    items.push(item);
    box.appendChild(item.node);
    renumber();
    return item;
  }

  function load() {
    return UI.api("GET", "/api/config").then(function (config) {
      UI.clear(box);
      items = [];
      var providers = (config && config.usenet && config.usenet.providers) || [];
      providers.forEach(function (p, i) { add(p, i); });
      loaded = true;
    });
  }

  function save() {
    UI.clearError();
    saved.hidden = true;
    var problems = [];
    var providers = items.map(function (item, i) {
      var server = serverOf(item);
      if (String(server.password).indexOf("****") === 0 && item.orig !== i)
        problems.push("Server " + (i + 1) + ": enter its password again (it moved in the list, so the stored one cannot be matched)");
      if (!server.host) problems.push("Server " + (i + 1) + ": enter the host");
      return server;
    });
    if (problems.length) { UI.showError(problems.join("; ")); return Promise.resolve(); }
    // Never shown the stored list (setup before login): add to it rather than replace it.
    var before = loaded ? Promise.resolve([]) : UI.api("GET", "/api/config").then(function (c) {
      return (c && c.usenet && c.usenet.providers) || [];
    });
    return before.then(function (stored) {
      return UI.api("POST", "/api/config", { usenet: { providers: stored.concat(providers) } });
    }).then(function () {
      return load();
    }).then(function () {
      UI.flash(saved, "Saved; takes effect at the next start of the gateway");
    }, function (e) { UI.showError("Usenet servers not saved: " + e.message); });
  }

  document.getElementById("usenet-add").addEventListener("click", function () {
    var item = add(null, null);
    item.fields.name.input.focus();
  });
  document.getElementById("usenet-save").addEventListener("click", save);
  load().catch(function (e) { if (e.status !== 401) UI.showError(e.message); });
})();
