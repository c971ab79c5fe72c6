% rebase('base.tpl', scripts=['dashboard.js', 'usenet-status.js'])
<section class="card" id="sync-section">
  <h2>Library sync</h2>
  <div id="sync"><p class="hint">Loading…</p></div>
</section>
<section class="card">
  <div class="toolbar">
    <h2>Imports</h2>
    <label>Category
      <select id="filter-category"><option value="">all</option>
        % for c in categories:
        <option value="{{c}}">{{c}}</option>
        % end
      </select>
    </label>
    <label>State <select id="filter-state"><option value="">all</option></select></label>
    <span class="hint" id="updated"></span>
  </div>
  <div class="table-wrap">
    <table class="list" id="imports">
      <thead><tr><th>Name</th><th>Category</th><th>State</th><th>Progress</th><th>Size</th><th>Provider</th><th>Added</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
  <p class="hint" id="empty" hidden>No imports yet. <a href="{{prefix}}/add">Add one</a>.</p>
</section>
<section class="card" id="usenet-section" hidden>
  <h2>Usenet servers</h2>
  <div id="usenet-status"></div>
</section>
