% rebase('base.tpl', scripts=['browse.js'])
<nav class="crumbs" id="crumbs" aria-label="path"></nav>
<section class="card" id="browse" data-webdav="{{'1' if webdav else '0'}}" data-webdav-auth="{{'1' if webdav_auth else '0'}}" data-user="{{user}}">
  <div class="toolbar" id="search-bar" hidden>
    <input type="search" id="search" placeholder="Search">
    <span class="hint" id="total"></span>
  </div>
  <div class="table-wrap">
    <table class="list" id="listing"><thead></thead><tbody></tbody></table>
  </div>
  <div class="row" id="pager" hidden>
    <button type="button" id="prev" class="secondary">Previous</button>
    <span id="page-no"></span>
    <button type="button" id="next" class="secondary">Next</button>
  </div>
</section>
<section class="card" id="player-box" hidden>
  <div class="toolbar"><h2 id="player-title"></h2><button type="button" id="player-close" class="secondary">Close</button></div>
  <video id="player" controls preload="metadata"></video>
</section>
