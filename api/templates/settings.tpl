% rebase('base.tpl', scripts=['settings.js', 'usenet-servers.js'])
<script type="application/json" id="schema">{{!schema}}</script>
<p class="hint">Fields marked <span class="badge now">now</span> apply at once; every other change takes effect at the next start of the gateway.</p>
<form id="settings-form" novalidate>
  <div id="settings-fields"></div>
  <section class="card">
    <div class="toolbar"><h2>Debrid accounts</h2><button type="button" id="add-debrid" class="secondary">Add account</button></div>
    <div id="debrids"></div>
  </section>
  <section class="card">
    <div class="toolbar"><h2>Arrs</h2><button type="button" id="add-arr" class="secondary">Add arr</button></div>
    <div id="arrs"></div>
  </section>
  <div class="savebar">
    <button type="submit" id="settings-save">Save</button>
    <span class="ok" id="settings-saved" hidden></span>
  </div>
</form>
<section class="card" id="usenet-editor">
  <script type="application/json" id="usenet-schema">{{!usenet_schema}}</script>
  <div class="toolbar"><h2>Usenet servers</h2><button type="button" id="usenet-add" class="secondary">Add server</button></div>
  <p class="hint">NZBs are read straight from these servers. Passwords are never shown: leave the masked value to keep the stored one.</p>
  <div id="usenet-servers"></div>
  <div class="savebar">
    <button type="button" id="usenet-save">Save servers</button>
    <span class="ok" id="usenet-saved" hidden></span>
  </div>
</section>
<section class="card" id="auth-section">
  <h2>Auth</h2>
  <p>User: <strong id="auth-username"></strong></p>
  <form id="password-form" class="narrow">
    <input type="text" name="username" autocomplete="username" hidden>
    <h3>Change password</h3>
    <label>Current password <input type="password" id="pw-current" autocomplete="current-password" required></label>
    <label>New password <input type="password" id="pw-new" autocomplete="new-password" required minlength="8"></label>
    <button type="submit" id="pw-submit">Change password</button>
    <p class="field-error" id="pw-error" hidden></p>
    <p class="ok" id="pw-ok" hidden></p>
  </form>
  <h3>API token</h3>
  <p class="hint">For Sonarr/Radarr (qBittorrent password or SABnzbd API key) and scripts (<code>Authorization: Bearer</code>).</p>
  <div class="row">
    <input id="api-token" readonly class="mono">
    <button type="button" id="token-copy" class="secondary">Copy</button>
    <button type="button" id="token-refresh" class="danger">Regenerate</button>
  </div>
  <p class="ok" id="token-msg" hidden></p>
</section>
