// A Flink table, newest row on top: the synced source gets streamed rows appended at the
// end, and this writes them reversed into the table's own (not syncable) source.
// args: src, dst.
const out = {};
for (const [name, values] of Object.entries(src.data)) out[name] = Array.from(values).reverse();
dst.data = out;
if (window.isspanelLink) window.isspanelLink.last = Date.now();
