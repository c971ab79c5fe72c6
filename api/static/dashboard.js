"use strict";
(function () {
  var el = UI.el;
  var tbody = document.querySelector("#imports tbody");
  var catSel = document.getElementById("filter-category");
  var stateSel = document.getElementById("filter-state");
  var empty = document.getElementById("empty");
  var updated = document.getElementById("updated");
  var last = [];

  function ensureOption(select, value) {
    if (!value) return;
    for (var i = 0; i < select.options.length; i++) if (select.options[i].value === value) return;
    select.appendChild(el("option", { value: value }, value));
  }

  function remove(item, fromDebrid) {
    var what = fromDebrid ? "Delete " + item.name + " here and on " + (item.provider || "the provider") + "?"
                          : "Delete " + item.name + " here (the provider keeps its copy)?";
    if (!window.confirm(what)) return;
    UI.api("DELETE", "/api/torrents?hash=" + encodeURIComponent(item.hash) + "&remove_from_debrid=" + fromDebrid)
      .then(refresh, function (e) { UI.showError(e.message); });
  }

  function attempts(item) {
    if (!item.attempts || !item.attempts.length) return null;
    return el("ul", { className: "attempts" }, item.attempts.map(function (a) {
      return el("li", null, el("strong", null, a.provider), ": ", a.outcome);
    }));
  }

  function row(item) {
    var name = el("td", { className: "name" }, el("div", { className: "title" }, item.name),
                  item.kind === "nzb" ? el("span", { className: "badge" }, "nzb") : null,
                  item.error ? el("div", { className: "field-error" }, item.error) : null, attempts(item));
    return el("tr", { dataset: { hash: item.hash } },
      name,
      el("td", { "data-label": "Category" }, item.category),
      el("td", { "data-label": "State" }, el("span", { className: "state state-" + item.state }, item.state)),
      el("td", { "data-label": "Progress" }, UI.bar(item.progress)),
      el("td", { "data-label": "Size" }, UI.size(item.size)),
      el("td", { "data-label": "Provider" }, item.provider || ""),
      el("td", { "data-label": "Added" }, UI.time(item.added_on)),
      el("td", { className: "actions" },
         el("button", { type: "button", className: "secondary small", title: "Delete here only",
                        onclick: function () { remove(item, false); } }, "Delete"),
         el("button", { type: "button", className: "danger small", title: "Delete here and on the provider",
                        onclick: function () { remove(item, true); } }, "Delete + provider")));
  }

  function render() {
    var cat = catSel.value, state = stateSel.value;
    var shown = last.filter(function (t) { return (!cat || t.category === cat) && (!state || t.state === state); });
    UI.replace(tbody, shown.map(row));
    empty.hidden = last.length !== 0;
  }

  function renderSync(health) {
    var box = document.getElementById("sync");
    var names = Object.keys(health.providers || {});
    if (!names.length) {
      UI.replace(box, el("p", { className: "hint" }, "No debrid account is configured. ",
                         el("a", { href: UI.url("/settings") }, "Add one in Settings"), "."));
      return;
    }
    UI.replace(box, names.map(function (name) {
      var s = health.providers[name];
      var listed = s.listed || 0, known = s.with_details || 0;
      var syncing = (s.pending || 0) > 0;
      var text = known + " of " + listed + " torrents known";
      if (syncing && s.eta_seconds) text += ", about " + UI.duration(s.eta_seconds) + " left";
      var a = s.account || {};
      if (a.state === "disabled")   // its key refused or premium expired: in red, with the reason and the time
        return el("div", { className: "sync-row account-disabled", dataset: { account: name, state: "disabled" } },
          el("strong", null, name), " ",
          el("span", null, "disabled: " + (a.reason || "key refused") + " since " + UI.time(a.since)),
          el("div", { className: "field-error" }, (a.detail || "") + " (probed every 5 minutes and when the key is changed in Settings)"));
      return el("div", { className: "sync-row", dataset: { account: name } },
        el("strong", null, name), " ",
        syncing ? UI.bar(listed ? known / listed : 0, text) : el("span", { className: "hint" }, listed + " torrents, in sync"),
        s.error ? el("div", { className: "field-error" }, s.error) : null);
    }));
  }

  function refresh() {
    return Promise.all([UI.api("GET", "/api/torrents"), UI.api("GET", "/health")]).then(function (res) {
      last = res[0] || [];
      last.forEach(function (t) { ensureOption(catSel, t.category); ensureOption(stateSel, t.state); });
      render();
      renderSync(res[1] || {});
      updated.textContent = "updated " + new Date().toLocaleTimeString();
    });
  }

  catSel.addEventListener("change", render);
  stateSel.addEventListener("change", render);
  UI.every(4000, refresh);
})();
