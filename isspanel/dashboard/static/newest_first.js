// A Flink table, newest row on top: the synced source gets streamed rows appended at the
// end, and this writes them reversed into the table's own (not syncable) source.
// args: src, dst, table (dst's DataTable: see positions.js for why it is told).
const out = {};
for (const [name, values] of Object.entries(src.data)) out[name] = Array.from(values).reverse();
const before = dst.get_length() ?? 0;
dst.data = out;
if (table && (dst.get_length() ?? 0) === before) table.view.change.emit();
if (window.isspanelLink) window.isspanelLink.last = Date.now();
