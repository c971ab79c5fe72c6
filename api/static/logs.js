"use strict";
(function () {
  var el = UI.el;
  var form = document.getElementById("logs-form");
  var tbody = document.querySelector("#logs tbody");
  var follow = document.getElementById("logs-follow");

  function load() {
    var params = new URLSearchParams({ lines: document.getElementById("logs-lines").value || "200" });
    var level = document.getElementById("logs-level").value, q = document.getElementById("logs-q").value;
    if (level) params.set("level", level);
    if (q) params.set("q", q);
    return UI.api("GET", "/api/logs?" + params.toString()).then(function (data) {
      var lines = (data && data.lines) || [];
      UI.replace(tbody, lines.length ? lines.map(function (l) {
        return el("tr", { className: "level-" + String(l.level || "").toLowerCase() },
                  el("td", { className: "nowrap" }, UI.time(l.time)), el("td", null, l.level), el("td", null, l.logger),
                  el("td", { className: "message" }, l.message));
      }) : el("tr", null, el("td", { colspan: "4", className: "hint" }, "No lines match.")));
    });
  }

  form.addEventListener("submit", function (ev) { ev.preventDefault(); load().catch(function (e) { UI.showError(e.message); }); });
  UI.every(5000, function () { return follow.checked ? load() : null; });
})();
