/**
 * The live page of the operator endpoint: one HTML document, one stylesheet, one script, no
 * framework and nothing fetched from elsewhere (the Content-Security-Policy forbids it). The
 * script listens to /events (server-sent events: the node's status every second; the browser
 * reconnects by itself when the node comes back) and redraws its tables. Everything a node or a
 * peer supplied is put in the page as text (textContent), never as markup.
 *
 * A node on a Redis backplane shows the backplane in a section of its own (its state, since when,
 * and why it is down), above its peers (the members) and not among them: the summary counts peers
 * alone, and says the backplane's state beside them.
 *
 * Rows and cells carry data-* attributes (data-peer, data-state, data-cache, data-backplane,
 * data-reason) so that tests, and anyone scripting the page, find them without depending on the
 * layout.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>meshcache</title>
<link rel="stylesheet" href="app.css">
<script src="app.js" defer></script>
</head>
<body>
<header>
  <h1><span class="brand">meshcache</span> <span id="node">…</span> <span class="dim">in cluster</span> <span id="cluster">…</span></h1>
  <p class="meta">
    <span id="url" class="mono"></span>
    <span id="ready" class="badge" data-ready="unknown">…</span>
    <span id="summary"></span>
    <span id="live" class="live" data-live="false">connecting…</span>
  </p>
</header>
<main>
<section id="backplane-section" hidden>
  <h2>Backplane <span class="dim">the Redis this node replicates through</span></h2>
  <table id="backplane">
    <thead><tr>
      <th>url</th><th>state</th><th>since</th><th>why</th><th class="num">members</th>
      <th class="num">lag</th><th class="num">pending bytes</th><th class="num">repairs</th>
      <th class="num">gaps</th><th>last gap</th>
    </tr></thead>
    <tbody></tbody>
  </table>
</section>
<section>
  <h2>Peers <span class="dim">as this node sees them</span></h2>
  <table id="peers">
    <thead><tr>
      <th>peer</th><th>state</th><th>found by</th><th>url</th><th class="num">lag</th>
      <th class="num">queued</th><th class="num">queued bytes</th><th class="num">sent</th>
      <th class="num">received</th><th class="num">repairs</th><th class="num">last frame</th>
    </tr></thead>
    <tbody></tbody>
  </table>
  <p id="no-peers" class="empty">No peers: this node has not found or been dialled by any.</p>
</section>
<section>
  <h2>Caches</h2>
  <table id="caches">
    <thead><tr>
      <th>cache</th><th class="num">size</th><th class="num">memory</th><th class="num">disk</th>
      <th>hit ratio</th><th class="num">gets/s</th><th class="num">puts/s</th><th class="num">hits</th>
      <th class="num">misses</th><th class="num">evictions</th><th class="num">expiries</th>
      <th class="num">tombstones</th><th>replicated</th>
    </tr></thead>
    <tbody></tbody>
  </table>
</section>
</main>
<footer class="dim">Refreshed every second from <a href="events">/events</a> · <a href="status">/status</a> (JSON) · <a href="metrics">/metrics</a> (Prometheus) · <a href="readyz">/readyz</a></footer>
</body>
</html>
`;

export const PAGE_CSS = `:root { color-scheme: light dark; --ok: #1a7f37; --warn: #b08800; --bad: #cf222e; --line: #8884; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 1.5rem; max-width: 1400px; }
h1 { font-size: 1.4rem; margin: 0; }
h2 { font-size: 1.1rem; margin: 1.8rem 0 .5rem; }
.brand { font-weight: 800; }
.dim { opacity: .6; font-weight: normal; }
.mono, td.url { font-family: ui-monospace, monospace; }
.meta { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; margin: .4rem 0 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-weight: 600; font-size: .85rem; opacity: .75; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge, .state { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-size: .85rem; font-weight: 600; color: #fff; background: #888; }
.state[data-state="connected"], .badge[data-ready="true"] { background: var(--ok); }
.state[data-state="connecting"], .badge[data-ready="false"] { background: var(--warn); }
.state[data-state="down"], .state[data-state="refused"] { background: var(--bad); }
.live::before { content: "●"; margin-right: .3rem; color: var(--bad); }
.live[data-live="true"]::before { color: var(--ok); }
.empty { opacity: .6; }
.empty[hidden] { display: none; }
meter { width: 6rem; vertical-align: middle; }
footer { margin-top: 2rem; font-size: .85rem; }
tr.changed td { transition: background 1s; }
`;

export const PAGE_JS = `'use strict';
(function () {
  var previous = null;
  var byId = function (id) { return document.getElementById(id); };
  var count = function (n) { return Number(n).toLocaleString('en'); };
  var duration = function (ms) {
    if (ms === null || ms === undefined) return '–';
    return ms < 1000 ? Math.round(ms) + ' ms' : (ms / 1000).toFixed(1) + ' s';
  };
  var bytes = function (n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(1) + ' MiB';
  };
  var ago = function (then, now) {
    if (then === null) return 'never';
    var s = Math.max(0, Math.round((now - then) / 1000));
    return s < 120 ? s + ' s ago' : Math.round(s / 60) + ' min ago';
  };
  var cell = function (row, text, className) {
    var td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  };
  var rate = function (now, before, field, name, seconds) {
    if (!before || seconds <= 0) return '–';
    var old = null;
    for (var i = 0; i < before.caches.length; i++) if (before.caches[i].name === name) old = before.caches[i];
    if (!old) return '–';
    return (Math.max(0, now[field] - old[field]) / seconds).toFixed(1);
  };

  function render(status) {
    byId('node').textContent = status.node;
    byId('cluster').textContent = status.cluster;
    byId('url').textContent = status.url;
    document.title = status.node + ' · meshcache';
    var ready = byId('ready');
    ready.dataset.ready = String(status.ready);
    ready.textContent = status.ready ? 'ready' : 'starting';
    var connected = status.peers.filter(function (p) { return p.state === 'connected'; }).length;
    var backplane = status.backplane || null;
    byId('summary').textContent = connected + ' of ' + status.peers.length + ' peers connected · ' +
      (backplane ? 'backplane ' + backplane.state + ' · ' : '') + status.caches.length + ' caches';

    byId('backplane-section').hidden = !backplane;
    var backplaneRows = byId('backplane').tBodies[0];
    backplaneRows.replaceChildren();
    if (backplane) {
      var row = document.createElement('tr');
      row.dataset.backplane = backplane.type;
      cell(row, backplane.url, 'url');
      var badge = document.createElement('span');
      badge.className = 'state';
      badge.dataset.state = backplane.state;
      badge.textContent = backplane.state;
      cell(row, '').appendChild(badge);
      cell(row, ago(backplane.since, status.now));
      cell(row, backplane.reason === null ? '–' : backplane.reason).dataset.reason = backplane.reason || '';
      cell(row, count(backplane.members), 'num');
      cell(row, backplane.lag === null ? '–' : count(backplane.lag) + ' entries (' + duration(backplane.lagMillis) + ')', 'num');
      cell(row, bytes(backplane.pendingBytes), 'num');
      cell(row, count(backplane.repairs), 'num');
      cell(row, count(backplane.gaps), 'num');
      cell(row, backplane.lastGap ? backplane.lastGap.why + ', ' + ago(backplane.lastGap.at, status.now) : '–');
      backplaneRows.appendChild(row);
    }

    var peers = byId('peers').tBodies[0];
    peers.replaceChildren();
    status.peers.forEach(function (peer) {
      var row = document.createElement('tr');
      row.dataset.peer = peer.id;
      cell(row, peer.id);
      var state = document.createElement('span');
      state.className = 'state';
      state.dataset.state = peer.state;
      state.textContent = peer.state;
      cell(row, '').appendChild(state);
      cell(row, peer.foundBy);
      cell(row, peer.url, 'url');
      cell(row, duration(peer.lagMillis), 'num');
      cell(row, count(peer.queuedChanges), 'num');
      cell(row, bytes(peer.queuedBytes), 'num');
      cell(row, count(peer.changesSent), 'num');
      cell(row, count(peer.changesReceived), 'num');
      cell(row, count(peer.repairs), 'num');
      cell(row, ago(peer.lastSeen, status.now), 'num');
      peers.appendChild(row);
    });
    byId('no-peers').hidden = status.peers.length > 0;

    var seconds = previous ? (status.now - previous.now) / 1000 : 0;
    var caches = byId('caches').tBodies[0];
    caches.replaceChildren();
    status.caches.forEach(function (cache) {
      var row = document.createElement('tr');
      row.dataset.cache = cache.name;
      cell(row, cache.name);
      cell(row, count(cache.size), 'num');
      cell(row, count(cache.memorySize), 'num');
      cell(row, count(cache.diskSize), 'num');
      var ratio = cell(row, '');
      ratio.dataset.hitRatio = String(cache.hitRatio);
      if (cache.hits + cache.misses === 0) {
        ratio.textContent = 'no reads yet';
        ratio.className = 'dim';
      } else {
        var meter = document.createElement('meter');
        meter.min = 0;
        meter.max = 1;
        meter.low = 0.5;
        meter.high = 0.8;
        meter.optimum = 1;
        meter.value = cache.hitRatio;
        ratio.appendChild(meter);
        ratio.appendChild(document.createTextNode(' ' + (cache.hitRatio * 100).toFixed(1) + ' %'));
      }
      var gets = { name: cache.name, gets: cache.hits + cache.misses };
      var before = previous && {
        caches: previous.caches.map(function (c) { return { name: c.name, gets: c.hits + c.misses, puts: c.puts }; }),
      };
      cell(row, rate(gets, before, 'gets', cache.name, seconds), 'num');
      cell(row, rate(cache, before, 'puts', cache.name, seconds), 'num');
      cell(row, count(cache.hits), 'num');
      cell(row, count(cache.misses), 'num');
      cell(row, count(cache.evictions), 'num');
      cell(row, count(cache.expirations), 'num');
      cell(row, count(cache.tombstones), 'num');
      cell(row, cache.replicated ? 'yes' : 'local only');
      caches.appendChild(row);
    });
    previous = status;
  }

  function live(on, text) {
    var badge = byId('live');
    badge.dataset.live = String(on);
    badge.textContent = text;
  }

  var source = new EventSource('events');
  source.addEventListener('status', function (event) {
    render(JSON.parse(event.data));
    live(true, 'live, updated ' + new Date().toLocaleTimeString());
  });
  source.onerror = function () {
    live(false, 'connection to the node lost: retrying…');
  };
})();
`;
