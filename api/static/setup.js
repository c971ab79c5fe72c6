"use strict";
(function () {
  var steps = ["user", "provider", "folders"];
  var debrid = null;   // the checked account, saved with the folders
  var configured = Number(document.getElementById("step-user").dataset.configured) > 0;

  function show(step) {
    UI.clearError();
    steps.forEach(function (s) {
      document.getElementById("step-" + s).hidden = s !== step;
      var li = document.querySelector('#steps li[data-step="' + s + '"]');
      li.className = s === step ? "current" : (steps.indexOf(s) < steps.indexOf(step) ? "done" : "");
    });
  }

  var userForm = document.getElementById("user-form");
  userForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var creds = { username: userForm.username.value, password: userForm.password.value };
    UI.api("POST", "/api/setup", creds)
      .then(function () { return UI.api("POST", "/login", creds); })
      .then(function () { show(configured ? "folders" : "provider"); }, function (e) { UI.showError(e.message); });
  });

  var providerForm = document.getElementById("provider-form");
  var result = document.getElementById("provider-result");
  var next = document.getElementById("provider-next");
  providerForm.addEventListener("input", function () { next.hidden = true; debrid = null; });
  providerForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    UI.clearError();
    result.hidden = true;
    var body = { provider: providerForm.provider.value, api_key: providerForm.api_key.value.trim() };
    if (providerForm.api_url.value.trim()) body.api_url = providerForm.api_url.value.trim();
    UI.api("POST", "/api/setup/debrid-check", body).then(function (answer) {
      if (!answer.ok) { UI.showError("Key check failed: " + answer.error); return; }
      UI.flash(result, "Key works: " + answer.username + (answer.premium ? " (premium)" : " (not premium)"));
      debrid = { name: providerForm.name.value.trim() || body.provider, provider: body.provider,
                 api_key: body.api_key };
      if (body.api_url) debrid.api_url = body.api_url;
      next.hidden = false;
      next.focus();
    }, function (e) { UI.showError(e.message); });
  });
  next.addEventListener("click", function () { if (debrid) show("folders"); });
  document.getElementById("provider-skip").addEventListener("click", function () { debrid = null; show("folders"); });

  var foldersForm = document.getElementById("folders-form");
  foldersForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    UI.clearError();
    UI.api("GET", "/api/config").then(function (stored) {
      var body = { download_folder: foldersForm.download_folder.value.trim(),
                   mount: { mount_path: foldersForm.mount_path.value.trim() } };
      if (debrid) {
        var list = (stored && stored.debrids) || [];
        var at = list.findIndex(function (d) { return d.name === debrid.name || (!d.name && d.provider === debrid.name); });
        list = list.slice();
        if (at >= 0) list[at] = debrid; else list.push(debrid);
        body.debrids = list;
      }
      return UI.api("POST", "/api/config", body);
    }).then(function () { window.location.assign(UI.url("/dashboard")); },
            function (e) { UI.showError(e.message); });
  });

  var addAccount = document.getElementById("folders-add-account");
  if (addAccount) addAccount.addEventListener("click", function () { show("provider"); });

  // With accounts in the config already (the demo's emulated ones, a hand-written config),
  // the key step is not asked for: the folders step names them and offers to add another.
  var needsSetup = document.getElementById("step-user").dataset.needsSetup === "1";
  show(needsSetup ? "user" : configured ? "folders" : "provider");
})();
