// What the map draws of a synced source: a browser-only copy of its rows (args: src, dst).
// They are streamed into dst with a rollover of as many rows, not set as new data: a new data
// object is a change of the source, and on any change of a model its items reach, Bokeh's
// legend (3.9) builds its DOM again, with a canvas per item and a forced style recalculation.
// Plain arrays: Bokeh's rollover of a typed array longer than the rollover keeps its tail.
// sync false: BokehJS sends a stream to the server even for a source that is not syncable.
const n = src.get_length() ?? 0;
const rows = {};
for (const [name, values] of Object.entries(src.data)) rows[name] = Array.from(values);
if (n > 0) dst.stream(rows, n, {sync: false});
else if ((dst.get_length() ?? 0) > 0) dst.data = rows;
