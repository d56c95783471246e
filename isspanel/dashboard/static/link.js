// The browser's side of the browser <-> server link, set up once per page. Bokeh fires
// connection_lost when the WebSocket closes: the banner says "disconnected" and the page
// reloads once the server answers again. Any message from the server (a record, or the
// heartbeat a quiet page gets every few seconds) marks the link alive; silence longer
// than stall_ms shows as "stalled". The status's per-record figures and its "last record
// N s ago" clock are kept here (paint).
// args: stall_ms, lost (true when called for connection_lost).
if (window.isspanelLink == null) {
  const el = document.createElement('div');
  el.id = 'isspanel-link';
  el.className = 'isspanel-link';
  document.body.appendChild(el);
  const set = (state, text) => {
    if (el.dataset.state === state && el.textContent === text) return;
    el.dataset.state = state;
    el.textContent = text;
  };
  const link = window.isspanelLink = {last: Date.now(), lost: false, set: set};
  set('connected', 'Browser ↔ server: connected');
  link.lose = (why) => {
    if (link.lost) return;
    link.lost = true;
    set('disconnected', 'Browser ↔ server: disconnected (' + why + '). ' +
        'The page reloads by itself when the server is back; or reload it then.');
    const probe = setInterval(() => {
      fetch(window.location.href, {cache: 'no-store'}).then((r) => {
        if (r.ok) { clearInterval(probe); set('disconnected', 'Server is back: reloading…');
                    window.location.reload(); }
      }).catch(() => {});
    }, 2000);
  };
  // The status line lives in a widget's shadow DOM; found again whenever it was re-rendered.
  const find = (root, out) => {
    for (const el of root.querySelectorAll('.status')) out.push(el);
    for (const host of root.querySelectorAll('*')) if (host.shadowRoot) find(host.shadowRoot, out);
    return out;
  };
  let shown = [];
  // The per-record figures come with each position (window.isspanelNewest, positions.js),
  // not in the status's text: a record never re-renders the status.
  link.paint = () => {
    if (shown.length === 0 || !shown.every((el) => el.isConnected)) shown = find(document, []);
    const newest = window.isspanelNewest;
    for (const status of shown) {
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
    if (link.lost) return;
    const silent = Date.now() - link.last;
    // A late heartbeat alone may be a busy server: say so, but do not give up the session.
    if (silent > stall_ms) set('stalled', 'Browser ↔ server: no heartbeat for ' +
                               Math.round(silent / 1000) + ' s (server busy or network down)');
    else set('connected', 'Browser ↔ server: connected');
    link.paint();
  }, 1000);
}
if (lost) window.isspanelLink.lose('connection closed');
else window.isspanelLink.last = Date.now();
