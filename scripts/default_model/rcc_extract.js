// Extracts the files of Qt binary resource files (.rcc), as GCompris ships its pictures.
// usage: node rcc_extract.js OUT_DIR FILE.rcc...   (writes OUT_DIR/<rcc name>/<resource path>)
// Format (Qt's rcc): "qres", version, offsets of the tree, data and names; tree nodes of 14 bytes
// (version 1) or 22 (version >= 2, with a modification time); data zlib-compressed when flag 1 is set
// (a 4-byte size, then the zlib stream). zstd-compressed entries (flag 4) are reported and skipped.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

function extract(file, outDir) {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 0, 4) !== 'qres') throw new Error(`${file}: not a Qt resource file`);
  const version = b.readUInt32BE(4), tree = b.readUInt32BE(8), data = b.readUInt32BE(12), names = b.readUInt32BE(16);
  const nodeSize = version >= 2 ? 22 : 14;
  const nameAt = (off) => {
    const p = names + off;
    const len = b.readUInt16BE(p);
    const u = Buffer.from(b.subarray(p + 6, p + 6 + 2 * len));
    u.swap16();
    return u.toString('utf16le');
  };
  let written = 0, skipped = 0;
  const walk = (i, prefix) => {
    const p = tree + i * nodeSize;
    const flags = b.readUInt16BE(p + 4);
    const name = i === 0 ? '' : nameAt(b.readUInt32BE(p));
    if (name.includes('..') || name.includes('/')) throw new Error(`${file}: bad resource name '${name}'`);
    if (flags & 2) {
      const count = b.readUInt32BE(p + 6), first = b.readUInt32BE(p + 10);
      for (let k = 0; k < count; ++k) walk(first + k, path.join(prefix, name));
      return;
    }
    const q = data + b.readUInt32BE(p + 10);
    let blob = b.subarray(q + 4, q + 4 + b.readUInt32BE(q));
    if (flags & 4) { ++skipped; return; }
    if (flags & 1) blob = zlib.inflateSync(blob.subarray(4));
    const dest = path.join(outDir, prefix, name);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, blob);
    ++written;
  };
  walk(0, '');
  return { written, skipped };
}

const [outDir, ...files] = process.argv.slice(2);
if (!outDir || files.length === 0) {
  console.error('usage: node rcc_extract.js OUT_DIR FILE.rcc...');
  process.exit(2);
}
for (const f of files) {
  const r = extract(f, path.join(outDir, path.basename(f, '.rcc')));
  console.log(`${f}: ${r.written} files${r.skipped ? `, ${r.skipped} zstd entries skipped` : ''}`);
}
