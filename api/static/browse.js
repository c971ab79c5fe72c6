"use strict";
/* Groups → torrents → files. Delete goes through WebDAV (DELETE of {prefix}/webdav/__all__/{torrent}/),
   the one route that removes a torrent folder; with WebDAV auth on it takes the user's password,
   asked once per page and kept only in memory. */
(function () {
  var el = UI.el;
  var box = document.getElementById("browse");
  var thead = document.querySelector("#listing thead");
  var tbody = document.querySelector("#listing tbody");
  var crumbs = document.getElementById("crumbs");
  var searchBar = document.getElementById("search-bar");
  var search = document.getElementById("search");
  var total = document.getElementById("total");
  var pager = document.getElementById("pager");
  var group = UI.query("group"), torrent = UI.query("torrent");
  var page = Number(UI.query("page") || 1), limit = 100;
  var password = null;

  function link(params, text) {
    var q = new URLSearchParams(params).toString();
    return el("a", { href: UI.url("/browse") + (q ? "?" + q : "") }, text);
  }

  function head(cols) { UI.replace(thead, el("tr", null, cols.map(function (c) { return el("th", null, c); }))); }

  function drawCrumbs() {
    var parts = [link({}, "Library")];
    if (group) parts.push(" / ", link({ group: group }, group));
    if (torrent) parts.push(" / ", el("span", null, torrent));
    UI.replace(crumbs, parts);
  }

  function askPassword() {
    if (password !== null || box.dataset.webdavAuth !== "1") return Promise.resolve(password);
    return new Promise(function (resolve, reject) {
      var input = el("input", { type: "password", id: "dav-password", autocomplete: "current-password" });
      var form = el("form", { className: "card narrow", id: "dav-password-form" },
        el("label", null, "Your password (deleting goes through WebDAV, which asks for it)", input),
        el("div", { className: "row" }, el("button", { type: "submit" }, "Delete"),
           el("button", { type: "button", className: "secondary", onclick: function () { form.remove(); reject(new Error("cancelled")); } }, "Cancel")));
      form.addEventListener("submit", function (ev) { ev.preventDefault(); password = input.value; form.remove(); resolve(password); });
      box.parentNode.insertBefore(form, box);
      input.focus();
    });
  }

  function basic(user, pass) {
    var bytes = new TextEncoder().encode(user + ":" + pass), bin = "";
    bytes.forEach(function (b) { bin += String.fromCharCode(b); });
    return "Basic " + btoa(bin);
  }

  function removeTorrent(name) {
    if (box.dataset.webdav !== "1") { UI.showError("Deleting needs WebDAV, which is disabled (disable_webdav)"); return; }
    if (!window.confirm("Delete " + name + " from the library and from the provider?")) return;
    askPassword().then(function (pass) {
      var headers = {};
      if (pass !== null) headers.Authorization = basic(box.dataset.user, pass);
      return fetch(UI.url("/webdav/__all__/" + encodeURIComponent(name) + "/"),
                   { method: "DELETE", credentials: "same-origin", headers: headers });
    }).then(function (resp) {
      if (resp.status === 401) { password = null; throw new Error("wrong password: nothing was deleted"); }
      if (!resp.ok) throw new Error("delete failed: " + resp.status + " " + resp.statusText);
      if (torrent) window.location.assign(UI.url("/browse") + "?" + new URLSearchParams({ group: group }));
      else load();
    }).catch(function (e) { if (e.message !== "cancelled") UI.showError(e.message); });
  }

  function play(file) {
    var boxP = document.getElementById("player-box"), video = document.getElementById("player");
    document.getElementById("player-title").textContent = file.path;
    video.src = file.download;
    boxP.hidden = false;
    boxP.scrollIntoView();
    video.play().catch(function () { /* the user presses play */ });
  }
  document.getElementById("player-close").addEventListener("click", function () {
    var video = document.getElementById("player");
    video.pause();
    video.removeAttribute("src");
    video.load();
    document.getElementById("player-box").hidden = true;
  });

  function groups() {
    return UI.api("GET", "/api/browse/").then(function (data) {
      head(["Group", "Torrents", "Modified"]);
      UI.replace(tbody, data.groups.map(function (g) {
        return el("tr", null, el("td", { className: "name" }, link({ group: g.name }, g.name)),
                  el("td", null, String(g.torrents)), el("td", null, UI.time(g.modified)));
      }));
    });
  }

  function torrents() {
    var q = "?page=" + page + "&limit=" + limit + (search.value ? "&search=" + encodeURIComponent(search.value) : "");
    return UI.api("GET", "/api/browse/" + encodeURIComponent(group) + q).then(function (data) {
      head(["Torrent", "Files", "Size", "Modified", ""]);
      total.textContent = data.total + " torrents";
      UI.replace(tbody, data.torrents.map(function (t) {
        return el("tr", null, el("td", { className: "name" }, link({ group: group, torrent: t.name }, t.name)),
                  el("td", null, String(t.files)), el("td", null, UI.size(t.size)), el("td", null, UI.time(t.modified)),
                  el("td", { className: "actions" }, el("button", { type: "button", className: "danger small",
                     onclick: function () { removeTorrent(t.name); } }, "Delete")));
      }));
      var pages = Math.max(1, Math.ceil(data.total / limit));
      pager.hidden = pages <= 1;
      document.getElementById("page-no").textContent = "page " + page + " of " + pages;
      document.getElementById("prev").disabled = page <= 1;
      document.getElementById("next").disabled = page >= pages;
    });
  }

  function files() {
    return UI.api("GET", "/api/browse/" + encodeURIComponent(group) + "/" + encodeURIComponent(torrent)).then(function (data) {
      head(["File", "Size", ""]);
      var rows = data.files.map(function (f) {
        var playable = /^(video|audio)\//.test(f.content_type || "");
        return el("tr", null, el("td", { className: "name" }, f.path), el("td", null, UI.size(f.size)),
                  el("td", { className: "actions" },
                     el("a", { href: f.download, className: "button small download", download: f.path.split("/").pop() }, "Download"),
                     playable ? el("button", { type: "button", className: "secondary small play",
                                               onclick: function () { play(f); } }, "Play") : null));
      });
      rows.push(el("tr", null, el("td", { className: "hint" }, data.files.length + " files"), el("td", null, UI.size(data.size)),
                   el("td", { className: "actions" }, el("button", { type: "button", className: "danger small", id: "delete-torrent",
                      onclick: function () { removeTorrent(torrent); } }, "Delete torrent"))));
      UI.replace(tbody, rows);
    });
  }

  function load() {
    UI.clearError();
    drawCrumbs();
    searchBar.hidden = !(group && !torrent);
    var job = torrent && group ? files() : group ? torrents() : groups();
    return job.catch(function (e) { UI.showError(e.message); });
  }

  var typing = null;
  search.addEventListener("input", function () { clearTimeout(typing); typing = setTimeout(function () { page = 1; load(); }, 250); });
  document.getElementById("prev").addEventListener("click", function () { page--; load(); });
  document.getElementById("next").addEventListener("click", function () { page++; load(); });
  load();
})();
