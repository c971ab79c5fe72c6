"use strict";
// Each usenet server's figures (GET /api/stats "usenet"), on the dashboard and the stats page:
// connections open of the cap, articles, bytes, missing, errors, state. Hidden without servers.
(function () {
  var el = UI.el;
  var section = document.getElementById("usenet-section");
  var box = document.getElementById("usenet-status");
  if (!section || !box) return;

  function row(name, s) {
    var state = String(s.state || "");
    var cls = state === "ok" ? "ok" : "field-error";
    return el("tr", { dataset: { server: name } },
      el("td", null, name),
      el("td", { className: "usenet-connections" }, (s.connections || 0) + " / " + (s.max_connections || 0)),
      el("td", { className: "usenet-articles" }, String(s.articles || 0)),
      el("td", { className: "usenet-bytes" }, UI.size(s.bytes || 0)),
      el("td", { className: "usenet-missing" }, String(s.missing || 0)),
      el("td", { className: "usenet-errors" }, String(s.errors || 0)),
      el("td", { className: "usenet-state" }, el("span", { className: cls },
        (state || "unknown") + (s.reason ? ": " + s.reason : ""))));
  }

  function refresh() {
    return UI.api("GET", "/api/stats").then(function (stats) {
      var servers = (stats && stats.usenet) || {};
      var names = Object.keys(servers);
      section.hidden = !names.length;
      UI.replace(box, el("div", { className: "table-wrap" }, el("table", { className: "list", id: "usenet-table" },
        el("thead", null, el("tr", null, ["Server", "Connections", "Articles", "Bytes", "Missing", "Errors", "State"]
          .map(function (h) { return el("th", null, h); }))),
        el("tbody", null, names.map(function (n) { return row(n, servers[n]); })))));
    });
  }
  UI.every(10000, refresh);
})();
