// The readouts of the newest position, and the map's circles, derived in the browser from
// the positions source (whose rows the hub made once, for every session) and the session's
// place. Runs when either changes, and once at load.
// args: positions (synced), place (lat, lon: the session's place, or empty), circles
// (xs, ys, color: browser-only), text (the readouts text node, browser-only), earth_km (the
// sphere's radius), r_mercator, max_lat, points (per circle), footprint_color, place_color.
const data = positions.data;
const last = data.ts.length - 1;
const cell = (name) => (last >= 0 && data[name] != null ? data[name][last] : null);
const deg = Math.PI / 180;

// A circle of radius_km on the sphere around (lat, lon) as lon/lat pieces, cut at ±180° with
// the crossing points added on both sides: readouts.circle_xy, line for line.
const circle = (lat, lon, radius_km) => {
  const d = radius_km / earth_km;
  const p1 = lat * deg, l1 = lon * deg;
  const lons = [], lats = [];
  for (let i = 0; i < points; i++) {
    const b = 2 * Math.PI * i / (points - 1);
    const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(b));
    const l2 = l1 + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p1),
                               Math.cos(d) - Math.sin(p1) * Math.sin(p2));
    const wrapped = (((l2 / deg + 180) % 360) + 360) % 360 - 180;
    lons.push(Math.round(wrapped * 1e9) / 1e9);
    lats.push(p2 / deg);
  }
  const ox = [lons[0]], oy = [lats[0]];
  for (let i = 1; i < lons.length; i++) {
    const x0 = lons[i - 1], y0 = lats[i - 1], x1 = lons[i], y1 = lats[i];
    if (Math.abs(x0) === 180) {  // a point on the edge: on the side that follows
      ox[ox.length - 1] = (x1 < 0 || Object.is(x1, -0)) ? -180 : 180;
    } else if (Math.abs(x1 - x0) > 180) {
      const edge = x0 > 0 ? 180 : -180;
      const f = (edge - x0) / (x1 + 2 * edge - x0);
      const y = y0 + (y1 - y0) * f;
      ox.push(edge, -edge); oy.push(y, y);
    }
    ox.push(x1); oy.push(y1);
  }
  const xs = [], ys = [];
  for (let i = 0; i < ox.length; i++) {
    if (i === 0 || Math.abs(ox[i] - ox[i - 1]) > 180) { xs.push([]); ys.push([]); }
    xs[xs.length - 1].push(ox[i]); ys[ys.length - 1].push(oy[i]);
  }
  return [xs, ys];
};
const mercator = (lon, lat) => {
  const la = Math.max(-max_lat, Math.min(max_lat, lat));
  return [lon * deg * r_mercator, Math.log(Math.tan(Math.PI / 4 + la * deg / 2)) * r_mercator];
};
const out = {xs: [], ys: [], color: []};
const add = ([xs, ys], color) => {
  for (let k = 0; k < xs.length; k++) {
    const projected = xs[k].map((x, i) => mercator(x, ys[k][i]));
    out.xs.push(projected.map((p) => p[0]));
    out.ys.push(projected.map((p) => p[1]));
    out.color.push(color);
  }
};
const radius = cell('footprint_km');
if (radius != null) {
  add(circle(data.lat[last], data.lon[last], radius), footprint_color);
  // The place sees the ISS above its horizon while the ISS is within the same radius.
  if (place.data.lat.length > 0) add(circle(place.data.lat[0], place.data.lon[0], radius), place_color);
}
// Streamed with a rollover of as many rows, not set as new data: the legend (positions.js).
if (out.xs.length > 0) circles.stream(out, out.xs.length, {sync: false});
else if ((circles.get_length() ?? 0) > 0) circles.data = out;

const number = (value, digits) => value.toLocaleString('en-US', {
  minimumFractionDigits: digits, maximumFractionDigits: digits});
// The position's own line first: here, not in the map's title, whose every change lays the
// whole figure out again (bench/page_profile.py: 19 ms a record in each page).
if (last < 0) {
  text.content = 'Waiting for the first position…';
} else {
  const parts = [];
  if (cell('alt_km') == null) {
    parts.push('No TLE within a year of this moment: altitude, ground speed, sunlight unknown');
  } else {
    parts.push(`Altitude ${number(cell('alt_km'), 1)} km`,
               `ground speed ${number(cell('speed_kmh'), 0)} km/h`,
               cell('sunlit') ? 'in sunlight' : "in the Earth's shadow");
  }
  if (cell('over') != null) parts.push(`over ${cell('over')}`);
  if (radius != null) parts.push(`footprint radius ${number(radius, 0)} km`);
  text.content = `ISS at ${data.lat[last].toFixed(4)}°, ${data.lon[last].toFixed(4)}° — ` +
    `${data.time[last]} UTC (record ${data.n[last]})\n` + parts.join(' · ');
}
