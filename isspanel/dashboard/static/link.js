// The browser's side of the browser <-> server link, set up once per page. Any message from
// the server (a record, or the heartbeat a quiet page gets every few seconds) marks the link
// alive; silence longer than stall_ms shows as "stalled". The status's per-record figures
// and its "last record N s ago" clock are kept here (paint).
//
// A page whose session the server no longer has never hears from it again. Panel turns
// Bokeh's own WebSocket reconnect off, and it would not help: turned on, against a restarted
// server it reopened the socket (the server makes a new session under the old id) but failed
// to re-pull the document, and the page never updated. So the page reloads itself, address
// (query and hash) kept, once the server answers a plain GET of it:
// - when Bokeh fires connection_lost (the WebSocket closed: a server stopped or restarted);
// - when the link is silent (stalled) and the server answers all the same: its session is
//   gone, or the WebSocket died without a close ever reaching the page. A server that is
//   merely frozen answers no GET either; once it thaws, its heartbeat comes first.
// While it has no word from the server, the banner never says "connected", and the status
// line does not show the server's claims about its own links (page.css hides them).
// args: stall_ms, probe_ms (between two probes), probe_timeout_ms, grace_ms (how long a page
// whose probe was answered waits for its own link), lost (true when called for
// connection_lost).
if (window.isspanelLink == null) {
  const el = document.createElement('div');
  el.id = 'isspanel-link';
  el.className = 'isspanel-link';
  document.body.appendChild(el);
  // The status line lives in a widget's shadow DOM; found again whenever it was re-rendered.
  const find = (root, out) => {
    for (const el of root.querySelectorAll('.status')) out.push(el);
    for (const host of root.querySelectorAll('*')) if (host.shadowRoot) find(host.shadowRoot, out);
    return out;
  };
  let shown = [];
  const statuses = () => {
    if (shown.length === 0 || !shown.every((el) => el.isConnected)) shown = find(document, []);
    return shown;
  };
  // The status line shows the server's claims only while the link is up (page.css).
  const mark = () => {
    const down = el.dataset.state !== 'connected';
    for (const status of statuses()) status.toggleAttribute('data-link-down', down);
  };
  const set = (state, text) => {
    if (el.dataset.state !== state || el.textContent !== text) {
      el.dataset.state = state;
      el.textContent = text;
    }
    mark();
  };
  const link = window.isspanelLink = {last: Date.now(), lost: false, set: set};
  const silent = () => Date.now() - link.last;
  set('connected', 'Browser ↔ server: connected');
  // One GET of the page at a time, at most every probe_ms; `answered` runs if the server
  // served it (link.probing stays true until what it returns has settled). Each GET costs
  // the server a session, discarded unused: only while the link is down.
  link.probing = false;
  let probed = 0;
  const probe = (answered) => {
    if (link.probing || Date.now() - probed < probe_ms) return;
    link.probing = true;
    probed = Date.now();
    fetch(window.location.href, {cache: 'no-store', signal: AbortSignal.timeout(probe_timeout_ms)})
      .then((r) => (r.ok ? answered() : null))
      .catch(() => {})
      .finally(() => { link.probing = false; });
  };
  const reload = (text) => {
    link.lost = true;  // nothing says otherwise any more
    set('disconnected', text);
    window.location.reload();  // keeps the query (?at=, the place) and the hash
  };
  link.lose = (why) => {
    if (link.lost) return;
    link.lost = true;
    set('disconnected', 'Browser ↔ server: disconnected (' + why + '). ' +
        'The page reloads by itself when the server is back; or reload it then.');
    probed = Date.now();  // the first probe after probe_ms: the server may be stopping
  };
  // The per-record figures come with each position (window.isspanelNewest, positions.js),
  // not in the status's text: a record never re-renders the status.
  link.paint = () => {
    const newest = window.isspanelNewest;
    for (const status of statuses()) {
      const age = status.querySelector('.age[data-at]');
      if (newest != null) {
        if (age != null) age.dataset.at = newest.at;
        const count = status.querySelector('.record-count .n');
        if (count != null) count.textContent = String(newest.n);
        const km = status.querySelector('.model-km .km');
        if (km != null && newest.km != null) {
          km.textContent = newest.km.toLocaleString('en-US', {minimumFractionDigits: 1,
                                                             maximumFractionDigits: 1});
        }
      }
      if (age == null) continue;
      const seconds = Math.max(0, Date.now() / 1000 - Number(age.dataset.at));
      age.textContent = seconds.toFixed(0);
      const dot = age.parentElement.querySelector('.dot');
      if (dot != null) dot.className = 'dot ' + (seconds < Number(age.dataset.stale) ? 'ok' : 'wait');
    }
  };
  setInterval(() => {
    if (link.lost) {
      mark();  // a status re-rendered since
      probe(() => reload('Server is back: reloading…'));
      return;
    }
    if (silent() > stall_ms) {
      // A late heartbeat alone may be a busy server: say so, and ask the server whether it
      // answers at all. If it does while this page still hears nothing, the link is dead.
      set('stalled', 'Browser ↔ server: no heartbeat for ' + Math.round(silent() / 1000) +
          ' s (server busy or network down)');
      probe(() => new Promise((settled) => setTimeout(() => {
        // A thawed server answers the pending GET first and beats within a beat: grace_ms.
        if (!link.lost && silent() > stall_ms + grace_ms) {
          reload('Browser ↔ server: the server answers but not on this page\'s link: reloading…');
        }
        settled();
      }, grace_ms)));
    } else {
      set('connected', 'Browser ↔ server: connected');
    }
    link.paint();
  }, 1000);
}
if (lost) window.isspanelLink.lose('connection closed');
else window.isspanelLink.last = Date.now();
