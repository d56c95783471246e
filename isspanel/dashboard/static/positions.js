// Runs in the browser whenever the positions source changes (a stream of new rows, or a
// whole new data set): derives what the page shows from it, so the server sends each
// position once. args: positions (synced), rows (the table's, newest first), table (its
// DataTable, or null), iss (the marker), beat. rows and iss are not syncable: nothing here goes back to the server. The
// track comes from the server (isspanel/dashboard/track.py); the line "ISS at …" is
// readouts.js's.
const data = positions.data;
const n = data.ts.length;
const order = [];
for (let i = n - 1; i >= 0; i--) order.push(i);
const pick = (name) => order.map((i) => data[name][i]);
const ts = pick('ts');
const before = rows.get_length() ?? 0;
rows.data = {
  ts: ts,
  time: pick('time'),
  lat: pick('lat'),
  lon: pick('lon'),
  source: pick('source'),
  // The newest row is marked; a colour per row is what the formatters read.
  mark: ts.map((_, i) => (i === 0 ? '#ffe58a' : 'transparent')),
};
// BokehJS redraws a DataTable's grid when its view's indices change, and a source replaced
// by one of the same length keeps them: a full table (100 rows, which the backfill makes the
// usual case) drew its old rows for good. A new length redraws by itself (twice: the view
// sets its indices, then their map), so the view is told only when the length stayed.
if (table && n === before) table.view.change.emit();
const last = n - 1;
// The marker's one row is streamed with a rollover of one, not set as new data: a new data
// object is a change of the source, and on any change of a model its items reach, Bokeh's
// legend (3.9) builds its DOM again, with a canvas per item and a forced style recalculation.
// sync false: BokehJS would send the stream to the server (stream_copy.js).
if (last < 0) {
  if ((iss.get_length() ?? 0) > 0) iss.data = {x: [], y: [], time: [], lat: [], lon: [], source: []};
} else {
  iss.stream({
    x: [data.x[last]], y: [data.y[last]], time: [data.time[last]],
    lat: [data.lat[last]], lon: [data.lon[last]], source: [data.source[last]],
  }, 1, {sync: false});
}
// For the latency benchmark: when each newest position arrived, as [key, epoch ms].
if (last >= 0) (window.isspanelArrivals = window.isspanelArrivals || []).push([data.ts[last], Date.now()]);
if (last >= 0) window.isspanelNewest = {n: data.n[last], at: data.at[last], km: data.model_km[last]};
if (window.isspanelLink) {
  window.isspanelLink.last = Date.now();  // as good as a heartbeat
  window.isspanelLink.paint();
}
