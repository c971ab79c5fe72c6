% rebase('base.tpl', scripts=['setup.js', 'usenet-servers.js'])
<ol class="steps" id="steps">
  <li data-step="user">Account</li><li data-step="provider">Provider</li><li data-step="folders">Folders</li>
</ol>
<section class="card narrow step" id="step-user" data-needs-setup="{{'1' if needs_setup else '0'}}"
         data-configured="{{len(configured)}}" hidden>
  <h2>Create your user</h2>
  <p class="hint">This user logs in to this page and to WebDAV. The password needs 8 characters or more.</p>
  <form id="user-form">
    <label>Username <input name="username" id="setup-username" autocomplete="username" required></label>
    <label>Password <input name="password" id="setup-password" type="password" autocomplete="new-password" required minlength="8"></label>
    <button type="submit" id="user-submit">Create user</button>
  </form>
</section>
<section class="card narrow step" id="step-provider" hidden>
  <h2>Add a debrid account</h2>
  <form id="provider-form">
    <label>Provider
      <select name="provider" id="setup-provider">
        % for p in providers:
        <option value="{{p}}">{{p}}</option>
        % end
      </select>
    </label>
    <label>Name <input name="name" id="setup-name" placeholder="same as the provider"></label>
    <label>API key <input name="api_key" id="setup-api-key" autocomplete="off" required></label>
    <details><summary>Advanced</summary>
      <label>API URL <input name="api_url" id="setup-api-url" placeholder="the provider's own"></label>
    </details>
    <div class="row">
      <button type="submit" id="provider-check">Check key</button>
      <button type="button" id="provider-skip" class="secondary">Skip</button>
    </div>
    <p class="ok" id="provider-result" hidden></p>
    <button type="button" id="provider-next" hidden>Next</button>
  </form>
  <div id="usenet-editor">
    <script type="application/json" id="usenet-schema">{{!usenet_schema}}</script>
    <div class="toolbar"><h3>Usenet servers</h3><button type="button" id="usenet-add" class="secondary">Add server</button></div>
    <p class="hint">Optional: with a usenet server, NZBs are read from it directly (no debrid account needed).</p>
    <div id="usenet-servers"></div>
    <div class="row">
      <button type="button" id="usenet-save" class="secondary">Save servers</button>
      <span class="ok" id="usenet-saved" hidden></span>
    </div>
  </div>
</section>
<section class="card narrow step" id="step-folders" hidden>
  <h2>Folders</h2>
  % if configured:
  <p class="ok" id="setup-configured">Debrid accounts configured:
    % for i, (name, provider) in enumerate(configured):
    <strong>{{name}}</strong>{{'' if name == provider else f' ({provider})'}}{{',' if i + 1 < len(configured) else '.'}}
    % end
    <button type="button" class="secondary" id="folders-add-account">Add another</button></p>
  % end
  <form id="folders-form">
    <label>Download folder <span class="hint">where symlinks, .strm files and downloads go, as Sonarr/Radarr see it</span>
      <input name="download_folder" id="setup-download-folder" value="{{download_folder}}"></label>
    <label>Mount path <span class="hint">where the library is mounted (FUSE or rclone)</span>
      <input name="mount_path" id="setup-mount-path" value="{{mount_path}}"></label>
    <button type="submit" id="folders-submit">Save and finish</button>
  </form>
  <p class="hint">Saved settings take effect at the next start of the gateway.</p>
</section>
