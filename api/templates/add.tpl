% rebase('base.tpl', scripts=['add.js'])
<form id="add-form" class="card" enctype="multipart/form-data">
  <label>Magnets or links <span class="hint">one per line</span>
    <textarea name="urls" id="add-urls" rows="5" placeholder="magnet:?xt=urn:btih:…"></textarea></label>
  <label>.torrent or .nzb files <input type="file" name="file" id="add-file" accept=".torrent,.nzb" multiple></label>
  <div class="grid3">
    <label>Category
      <select name="category" id="add-category">
        % for c in categories:
        <option value="{{c}}">{{c}}</option>
        % end
        <option value="">(none)</option>
      </select>
    </label>
    <label>Action
      <select name="action" id="add-action">
        % for a in actions:
        <option value="{{a}}" {{'selected' if a == default_action else ''}}>{{a}}</option>
        % end
      </select>
    </label>
    <label>Provider
      <select name="debrid" id="add-debrid">
        <option value="">any (in priority order)</option>
        % for d in debrids:
        <option value="{{d}}">{{d}}</option>
        % end
      </select>
    </label>
  </div>
  <label class="check"><input type="checkbox" name="download_uncached" id="add-uncached" value="true"> Download uncached</label>
  <button type="submit" id="add-submit">Add</button>
</form>
<section class="card" id="add-result" hidden>
  <h2>Added</h2>
  <ul id="added"></ul>
  <p><a href="{{prefix}}/dashboard">See them on the dashboard</a></p>
</section>
