% rebase('base.tpl', scripts=['repair.js'])
<form id="scan-form" class="card">
  <h2>New scan</h2>
  <div class="grid3">
    <label>Arr
      <select id="scan-arr"><option value="">all</option>
        % for a in arrs:
        <option value="{{a}}">{{a}}</option>
        % end
      </select>
    </label>
    <label>Media ids <input id="scan-ids" placeholder="e.g. 12, 40 (optional)"></label>
    <label class="check"><input type="checkbox" id="scan-auto"> Process when done</label>
  </div>
  <button type="submit" id="scan-start">Start scan</button>
  <p class="ok" id="scan-result" hidden></p>
</form>
<section class="card">
  <h2>Jobs</h2>
  <div id="jobs"><p class="hint">Loading…</p></div>
</section>
