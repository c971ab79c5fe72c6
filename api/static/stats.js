"use strict";
(function () {
  var el = UI.el;
  var SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) node.appendChild(arguments[i]);
    return node;
  }

  function table(headers, rows) {
    return el("div", { className: "table-wrap" }, el("table", { className: "list" },
      el("thead", null, el("tr", null, headers.map(function (h) { return el("th", null, h); }))),
      el("tbody", null, rows.map(function (r) { return el("tr", null, r.map(function (c) { return el("td", null, c); })); }))));
  }

  function dl(pairs) {
    return el("dl", { className: "pairs" }, pairs.map(function (p) { return [el("dt", null, p[0]), el("dd", null, p[1])]; }));
  }

  // One account's budget over the last hour: calls used (line) against the limit (dashed).
  function chart(name, samples) {
    var w = 600, h = 160, pad = 28;
    var now = Date.now() / 1000, from = now - 3600;
    // "limit" is the budget as text ("250/60.0s" style or "off"): chart its number when it has one.
    samples = samples.map(function (s) {
      var n = parseInt(String(s.limit), 10);
      return { t: s.t, used: Number(s.used) || 0, calls: Number(s.calls) || 0, rate_limited: s.rate_limited,
               limit: isNaN(n) ? null : n, paused_for: s.paused_for, waiting: s.waiting };
    });
    var max = 1;
    samples.forEach(function (s) { max = Math.max(max, s.used || 0, s.limit || 0, s.calls || 0); });
    function x(t) { return pad + (Math.max(from, t) - from) / 3600 * (w - 2 * pad); }
    function y(v) { return h - pad - (v / max) * (h - 2 * pad); }
    function line(key, cls) {
      var pts = samples.filter(function (s) { return s[key] !== null && s[key] !== undefined; })
                       .map(function (s) { return x(s.t).toFixed(1) + "," + y(s[key]).toFixed(1); });
      return pts.length ? svg("polyline", { points: pts.join(" "), "class": cls, fill: "none" }) : null;
    }
    var limited = samples.filter(function (s) { return s.rate_limited > 0; }).map(function (s) {
      return svg("circle", { cx: x(s.t).toFixed(1), cy: y(s.used || 0).toFixed(1), r: 3, "class": "c-limited" });
    });
    var root = svg("svg", { viewBox: "0 0 " + w + " " + h, "class": "chart", role: "img" },
      svg("line", { x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, "class": "axis" }),
      svg("line", { x1: pad, y1: pad, x2: pad, y2: h - pad, "class": "axis" }),
      line("limit", "c-limit"), line("used", "c-used"), line("calls", "c-calls"));
    limited.forEach(function (c) { root.appendChild(c); });
    var label = svg("text", { x: pad + 4, y: pad - 8, "class": "c-text" });
    label.textContent = "max " + max;
    root.appendChild(label);
    var t0 = svg("text", { x: pad, y: h - 8, "class": "c-text" }); t0.textContent = "-60 min";
    var t1 = svg("text", { x: w - pad - 24, y: h - 8, "class": "c-text" }); t1.textContent = "now";
    root.appendChild(t0); root.appendChild(t1);
    var lastS = samples[samples.length - 1] || {};
    return el("figure", { className: "chart-box" }, el("figcaption", null, el("strong", null, name), " ",
      el("span", { className: "legend used" }, "used"), " ", el("span", { className: "legend limit" }, "limit"), " ",
      el("span", { className: "legend calls" }, "calls/min"), " ", el("span", { className: "legend limited" }, "rate limited"),
      lastS.limit === null && samples.length ? " · no client-side limit" : "",
      lastS.waiting ? " · waiting " + lastS.waiting : "",
      lastS.paused_for ? " · paused " + UI.duration(lastS.paused_for) : ""), root);
  }

  // A disabled account (its key refused, premium expired) in red, with the reason and since when.
  function status(s) {
    var a = s.account || {};
    if (a.state === "disabled")
      return el("span", { className: "field-error account-disabled" },
                "disabled: " + (a.reason || "key refused") + " since " + UI.time(a.since) + " (probed every 5 min)");
    return s.error ? el("span", { className: "field-error" }, s.error) : el("span", { className: "ok" }, "ok");
  }

  function accounts(providers) {
    var names = Object.keys(providers || {});
    if (!names.length) return el("p", { className: "hint" }, "No debrid account is configured.");
    return table(["Account", "Provider", "Torrents", "Known", "Pending", "Last listing", "Budget", "Download keys", "Status"],
      names.map(function (n) {
        var s = providers[n], b = s.budget || {};
        var keys = (s.download_keys || []).map(function (k) { return k.key + (k.usable ? " ok" : " (" + (k.reason || "unusable") + ")"); }).join(", ");
        return [n, s.provider || "", String(s.listed || 0), String(s.with_details || 0), String(s.pending || 0),
                UI.time(s.last_listing), (b.used || 0) + " used of " + (b.limit || "off") + (b.paused_for ? ", paused " + UI.duration(b.paused_for) : ""),
                keys, status(s)];
      }));
  }

  function refresh() {
    return Promise.all([UI.api("GET", "/api/browse/"), UI.api("GET", "/health"), UI.api("GET", "/api/stats"),
                        UI.api("GET", "/api/stats/history")]).then(function (r) {
      var groups = r[0].groups || [], health = r[1], stats = r[2], history = r[3] || {};
      UI.replace(document.getElementById("library"),
        dl([["Torrents", String(health.torrents)]].concat(groups.map(function (g) { return ["Group " + g.name, g.torrents + " torrents"]; }))));
      UI.replace(document.getElementById("accounts"), accounts(health.providers));
      var names = Object.keys(history.accounts || {});
      UI.replace(document.getElementById("charts"), names.length ? names.map(function (n) { return chart(n, history.accounts[n] || []); })
                                                                  : el("p", { className: "hint" }, "No samples yet (one a minute)."));
      var streams = stats.streams || [];
      UI.replace(document.getElementById("streams"), streams.length ? table(["File", "Reader", "Size", "Position", "Served"],
        streams.map(function (s) { return [s.file, s.reader, UI.size(s.size), UI.size(s.position), UI.size(s.served)]; }))
        : el("p", { className: "hint" }, "Nothing is streaming."));
      var c = stats.cache, up = stats.upstream || {}, mount = stats.mount || {};
      var pairs = [["Upstream requests", String(up.requests || 0)], ["Upstream bytes", UI.size(up.bytes || 0)],
                   ["Served", UI.size(stats.served_bytes || 0)],
                   ["Mount", (mount.type || "none") + (mount.path ? " at " + mount.path : "") + (mount.mounted ? " (mounted)" : "")]];
      if (c) {
        pairs.push(["Cache", UI.size(c.bytes_on_disk) + " of " + UI.size(c.max_bytes) + " in " + c.files + " files"],
                   ["Cache hits / misses", c.hits + " / " + c.misses], ["Fetched", UI.size(c.fetched_bytes) + " in " + c.upstream_fetches + " fetches"]);
      } else {
        pairs.push(["Cache", "off (it comes with the FUSE mount)"]);
      }
      UI.replace(document.getElementById("cache"), dl(pairs));
    });
  }
  UI.every(10000, refresh);
})();
