% rebase('base.tpl', scripts=['logs.js'])
<form class="card toolbar" id="logs-form">
  <label>Level
    <select id="logs-level">
      <option value="">all</option><option value="debug">debug</option><option value="info">info</option>
      <option value="warning">warning</option><option value="error">error</option>
    </select>
  </label>
  <label>Text <input type="search" id="logs-q" placeholder="filter"></label>
  <label>Lines <input type="number" id="logs-lines" value="200" min="1" max="5000"></label>
  <label class="check"><input type="checkbox" id="logs-follow" checked> Follow</label>
  <button type="submit" id="logs-load">Show</button>
</form>
<section class="card">
  <div class="table-wrap"><table class="list logs" id="logs"><thead><tr><th>Time</th><th>Level</th><th>Logger</th><th>Message</th></tr></thead><tbody></tbody></table></div>
</section>
