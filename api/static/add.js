"use strict";
(function () {
  var form = document.getElementById("add-form");
  var box = document.getElementById("add-result");
  var list = document.getElementById("added");
  var submit = document.getElementById("add-submit");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    UI.clearError();
    box.hidden = true;
    var data = new FormData();
    data.append("urls", form.urls.value);
    Array.prototype.forEach.call(form.file.files, function (f) { data.append("file", f, f.name); });
    data.append("category", form.category.value);
    data.append("action", document.getElementById("add-action").value);
    data.append("debrid", form.debrid.value);
    if (form.download_uncached.checked) data.append("download_uncached", "true");
    submit.disabled = true;
    UI.api("POST", "/api/add", data).then(function (items) {
      UI.replace(list, (items || []).map(function (it) {
        return UI.el("li", null, UI.el("strong", null, it.name || it.hash), " ",
                     UI.el("span", { className: "state state-" + it.state }, it.state));
      }));
      box.hidden = false;
      form.urls.value = "";
      form.file.value = "";
    }, function (e) { UI.showError(e.message); }).then(function () { submit.disabled = false; });
  });
})();
