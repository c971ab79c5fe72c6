"use strict";
(function () {
  var el = UI.el;
  var form = document.getElementById("scan-form");
  var result = document.getElementById("scan-result");
  var jobsBox = document.getElementById("jobs");
  var dryRuns = {};   // job id → the actions a dry run listed

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    UI.clearError();
    result.hidden = true;
    var body = {};
    var arr = document.getElementById("scan-arr").value;
    if (arr) body.arr = arr;
    var ids = document.getElementById("scan-ids").value.split(/[\s,]+/).filter(Boolean);
    if (ids.length) {
      body.media_ids = ids.map(Number);
      if (body.media_ids.some(function (n) { return !Number.isInteger(n) || n <= 0; })) {
        UI.showError("media ids must be positive whole numbers");
        return;
      }
    }
    if (document.getElementById("scan-auto").checked) body.auto_process = true;
    UI.api("POST", "/api/repair", body).then(function (answer) {
      UI.flash(result, "Scan " + answer.job_id + " started");
      return refresh();
    }, function (e) { UI.showError("Could not start a scan: " + e.message); });
  });

  function process(job, dry) {
    UI.clearError();
    if (!dry && !window.confirm("Repair the broken items of this job?")) return;
    UI.api("POST", "/api/repair/jobs/" + encodeURIComponent(job.id) + "/process", { dry_run: dry }).then(function (answer) {
      if (dry) dryRuns[job.id] = answer.actions || [];
      return refresh();
    }, function (e) { UI.showError(e.message); });
  }

  function items(title, list, extra) {
    if (!list || !list.length) return null;
    return el("details", { open: true }, el("summary", null, title + " (" + list.length + ")"),
      el("div", { className: "table-wrap" }, el("table", { className: "list" },
        el("thead", null, el("tr", null, ["Arr", "Title", "File", "Reason", "Step", extra || "Done"].map(function (h) { return el("th", null, h); }))),
        el("tbody", null, list.map(function (it) {
          return el("tr", null, el("td", null, it.arr), el("td", null, it.title), el("td", { className: "name" }, it.file_path),
                    el("td", null, it.reason), el("td", null, it.step || ""),
                    el("td", null, extra ? (it.action || "") : [].concat(it.done || []).join("; ") + (it.outcome ? " → " + it.outcome : "")));
        })))));
  }

  function job(j) {
    var c = j.counts || {};
    var canProcess = j.status === "pending" || j.status === "failed";
    return el("article", { className: "job", dataset: { job: j.id } },
      el("header", { className: "toolbar" },
         el("strong", null, "Job " + j.id), el("span", { className: "state state-" + j.status }, j.status),
         el("span", { className: "hint" }, UI.time(j.created_at) + (j.finished_at ? " – " + UI.time(j.finished_at) : "")),
         canProcess ? el("button", { type: "button", className: "secondary small", onclick: function () { process(j, true); } }, "Dry run") : null,
         canProcess ? el("button", { type: "button", className: "small", onclick: function () { process(j, false); } }, "Process") : null),
      el("p", null, "arrs: " + [].concat(j.arrs || []).join(", ") + " · files " + (c.files || 0) + ", healthy " + (c.healthy || 0) +
         ", broken " + (c.broken || 0) + ", unknown " + (c.unknown || 0)),
      j.error ? el("p", { className: "field-error" }, j.error) : null,
      items("Broken", j.broken_items), items("Unknown", j.unknown_items),
      dryRuns[j.id] ? (dryRuns[j.id].length ? items("Dry run: would do", dryRuns[j.id], "Action")
                                            : el("p", { className: "hint" }, "Dry run: nothing to do")) : null);
  }

  function refresh() {
    return UI.api("GET", "/api/repair/jobs").then(function (jobs) {
      if (!jobs.length) { UI.replace(jobsBox, el("p", { className: "hint" }, "No scans yet.")); return; }
      UI.replace(jobsBox, jobs.map(job));
    });
  }
  var timer = null;
  function loop() {
    refresh().catch(function (e) { UI.showError(e.message); }).then(function () { timer = setTimeout(loop, 5000); });
  }
  loop();
})();
