% rebase('base.tpl', scripts=['login.js'])
<form id="login-form" class="card narrow" data-next="{{next_url}}">
  <label>Username <input name="username" id="username" autocomplete="username" required></label>
  <label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
  <button type="submit" id="login-submit">Log in</button>
</form>
