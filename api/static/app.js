/* Shared helpers for every page. Data is only ever put in the page with textContent. */
"use strict";
var UI = (function () {
  var prefix = document.body.dataset.prefix || "";

  function url(path) { return prefix + path; }

  // The session's CSRF token: every state-changing request sends it (X-CSRF-Token).
  // The page carries it in <meta name="csrf-token">; a login answer brings a fresh one.
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") || "" : "";
  function csrfToken() { return csrf; }

  // fetch against the JSON API with the session cookie; resolves to the parsed body,
  // rejects with an Error whose message is the server's "error" text.
  function api(method, path, body, extra) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body instanceof FormData) {
      opts.body = body;
    } else if (body !== undefined && body !== null) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    if (method !== "GET" && method !== "HEAD" && csrf) opts.headers["X-CSRF-Token"] = csrf;
    if (extra && extra.headers) {
      Object.keys(extra.headers).forEach(function (k) { opts.headers[k] = extra.headers[k]; });
    }
    var target = /^https?:|^\//.test(path) && path.indexOf(prefix + "/") === 0 ? path : url(path);
    return fetch(target, opts).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (data && typeof data.csrf_token === "string") {
          csrf = data.csrf_token;
          if (csrfMeta) csrfMeta.setAttribute("content", csrf);
        }
        if (!resp.ok) {
          var msg = data && data.error ? data.error : (resp.status + " " + (resp.statusText || "error"));
          var err = new Error(msg);
          err.status = resp.status;
          err.data = data;
          throw err;
        }
        return data;
      });
    }, function (e) { throw new Error("the gateway did not answer (" + e.message + ")"); });
  }

  // el("td", {className: "x"}, "text", childNode, ...): a node; strings become text nodes.
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === "className") node.className = v;
        else if (k === "text") node.textContent = v;
        else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
        else if (k === "dataset") Object.keys(v).forEach(function (d) { node.dataset[d] = v[d]; });
        else node.setAttribute(k, v === true ? "" : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function replace(node) {
    clear(node);
    for (var i = 1; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function size(bytes) {
    if (bytes === null || bytes === undefined || isNaN(bytes)) return "";
    var units = ["B", "KB", "MB", "GB", "TB", "PB"], n = Number(bytes), i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)) + " " + units[i];
  }

  function time(value) {
    if (!value) return "";
    var d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    if (isNaN(d.getTime())) return String(value);
    return d.toLocaleString();
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function bar(fraction, label) {
    var f = Math.max(0, Math.min(1, Number(fraction) || 0));
    var fill = el("span", { className: "fill" });
    fill.style.width = (f * 100).toFixed(1) + "%";
    return el("span", { className: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
                        "aria-valuenow": String(Math.round(f * 100)) },
              fill, el("span", { className: "bar-label" }, label !== undefined ? label : Math.round(f * 100) + "%"));
  }

  var errorLine = document.getElementById("error");
  function showError(message) {
    if (!errorLine) return;
    errorLine.textContent = message;
    errorLine.hidden = false;
  }
  function clearError() { if (errorLine) { errorLine.hidden = true; errorLine.textContent = ""; } }

  function flash(node, message) {
    node.textContent = message;
    node.hidden = false;
  }

  // Run fn now and every ms milliseconds while the page is visible; a failure shows on the error line.
  function every(ms, fn) {
    var timer = null, failed = false;   // only clears an error this loop showed itself
    function tick() {
      Promise.resolve().then(fn).then(function () { if (failed) clearError(); failed = false; },
                                      function (e) { failed = true; showError(e.message); })
        .then(function () { timer = setTimeout(tick, ms); });
    }
    tick();
    return function stop() { if (timer) clearTimeout(timer); };
  }

  function query(name) { return new URLSearchParams(window.location.search).get(name); }

  return { prefix: prefix, url: url, api: api, csrfToken: csrfToken, el: el, clear: clear, replace: replace, size: size, time: time,
           duration: duration, bar: bar, showError: showError, clearError: clearError, flash: flash,
           every: every, query: query };
})();
