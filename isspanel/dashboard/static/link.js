// The browser's side of the browser <-> server link, set up once per page. Bokeh fires
// connection_lost when the WebSocket closes: the banner says "disconnected" and the page
// reloads once the server answers again. Any message from the server (a record, or the
// heartbeat a quiet page gets every few seconds) marks the link alive; silence longer
// than stall_ms shows as "stalled". The "last record N s ago" clocks tick here.
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
  const ages = (root, out) => {
    for (const age of root.querySelectorAll('.age[data-at]')) out.push(age);
    for (const host of root.querySelectorAll('*')) if (host.shadowRoot) ages(host.shadowRoot, out);
    return out;
  };
  setInterval(() => {
    if (link.lost) return;
    const silent = Date.now() - link.last;
    // A late heartbeat alone may be a busy server: say so, but do not give up the session.
    if (silent > stall_ms) set('stalled', 'Browser ↔ server: no heartbeat for ' +
                               Math.round(silent / 1000) + ' s (server busy or network down)');
    else set('connected', 'Browser ↔ server: connected');
    for (const age of ages(document, [])) {
      const seconds = Math.max(0, Date.now() / 1000 - Number(age.dataset.at));
      age.textContent = seconds.toFixed(0);
      const dot = age.parentElement.querySelector('.dot');
      if (dot != null) dot.className = 'dot ' + (seconds < Number(age.dataset.stale) ? 'ok' : 'wait');
    }
  }, 1000);
}
if (lost) window.isspanelLink.lose('connection closed');
else window.isspanelLink.last = Date.now();
