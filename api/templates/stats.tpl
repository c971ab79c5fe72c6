% rebase('base.tpl', scripts=['stats.js', 'usenet-status.js'])
<section class="card"><h2>Library</h2><div id="library"></div></section>
<section class="card"><h2>Accounts</h2><div id="accounts"></div></section>
<section class="card"><h2>Request budget, last hour</h2><div id="charts"></div></section>
<section class="card"><h2>Streams</h2><div id="streams"></div></section>
<section class="card"><h2>Cache and upstream</h2><div id="cache"></div></section>
<section class="card" id="usenet-section" hidden>
  <h2>Usenet servers</h2>
  <div id="usenet-status"></div>
</section>
