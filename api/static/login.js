"use strict";
(function () {
  var form = document.getElementById("login-form");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    UI.clearError();
    UI.api("POST", "/login", { username: form.username.value, password: form.password.value })
      .then(function () { window.location.assign(form.dataset.next || UI.url("/dashboard")); },
            function (e) { UI.showError(e.message); });
  });
})();
