// Dataset plumbing for scripts/train_default_model.sh (training-data preparation, not the product).
//   node datasets.js eval GT.txt OUT [ROOT]          hand-checked boxes (assets/real_photos_gt.txt) ->
//                                                    a YOLO dataset OUT (val split, COCO-80 names); a
//                                                    photo missing at its path is looked for under ROOT
//                                                    (scripts/default_model/fetch_heldout.sh)
//   node datasets.js pseudo TEACHER.jsonl OUT CONF NAMES_FILE [IGNORE_CONF]
//                                                    teacher detections with score >= CONF of the
//                                                    classes in NAMES_FILE -> YOLO dataset OUT
//                                                    (every 10th image in val); with IGNORE_CONF, those
//                                                    scored in [IGNORE_CONF, CONF) go to OUT/ignore/
//                                                    (ignore regions, `yolonas train ignore_regions=true`)
//   node datasets.js remap YOLO_DIR NAMES_FILE       rewrites a YOLO dataset's label files (and
//                                                    data.yaml) from its own names to NAMES_FILE's order
//   node datasets.js stats TEACHER.jsonl CONF        boxes and images per class at score >= CONF
//   node datasets.js preds TEACHER.jsonl INSTANCES   the teacher's detections on the eval set as COCO
//                                                    results (stdout) for `yolonas val gt= pred=`
//   node datasets.js backgrounds TEACHER.jsonl PSEUDO_DIR MAX_SCORE
//                                                    the training pictures of PSEUDO_DIR in which the
//                                                    teacher saw nothing (no detection of any COCO class
//                                                    at score >= MAX_SCORE): backgrounds for paste_real
// NAMES_FILE: one COCO class name per line, in class-id order.
'use strict';
const fs = require('fs');
const path = require('path');

const { COCO80, iou, flatName } = require('./common.js');

function fail(msg) { console.error(`datasets.js: ${msg}`); process.exit(1); }

// A picture's file name without folder and extension: its name in a pseudo-labelled set.
const stemOf = (file) => path.basename(file).replace(/\.[^.]*$/, '');

// Width and height from a JPEG's frame header or a PNG's IHDR chunk.
function imageSize(file) {
  const b = fs.readFileSync(file);
  if (b.length >= 24 && b.readUInt32BE(0) === 0x89504e47 && b.toString('latin1', 12, 16) === 'IHDR')
    return { w: b.readUInt32BE(16), h: b.readUInt32BE(20) };
  if (b[0] !== 0xff || b[1] !== 0xd8) fail(`${file}: neither a JPEG nor a PNG file`);
  for (let i = 2; i + 9 < b.length;) {
    if (b[i] !== 0xff) { ++i; continue; }
    const m = b[i + 1];
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc)
      return { w: b.readUInt16BE(i + 7), h: b.readUInt16BE(i + 5) };
    i += 2 + b.readUInt16BE(i + 2);
  }
  fail(`${file}: no JPEG frame header`);
}

function readNames(file) {
  const names = fs.readFileSync(file, 'utf8').split('\n').map((s) => s.trim()).filter((s) => s && !s.startsWith('#'));
  for (const n of names) if (!COCO80.includes(n)) fail(`${file}: '${n}' is not a COCO class name`);
  return names;
}

function dataYaml(root, names, splits, comment) {
  const q = (s) => JSON.stringify(s);
  return `# ${comment}\npath: ${q(root)}\n` + Object.entries(splits).map(([k, v]) => `${k}: ${q(v)}\n`).join('') +
    `names:\n${names.map((n, i) => `  ${i}: ${q(n)}\n`).join('')}`;
}

function yoloLine(cls, x1, y1, x2, y2, w, h) {
  x1 = Math.max(0, Math.min(w, x1)); x2 = Math.max(0, Math.min(w, x2));
  y1 = Math.max(0, Math.min(h, y1)); y2 = Math.max(0, Math.min(h, y2));
  if (x2 - x1 < 1 || y2 - y1 < 1) return null;
  const f = (v) => v.toFixed(6);
  return `${cls} ${f((x1 + x2) / 2 / w)} ${f((y1 + y2) / 2 / h)} ${f((x2 - x1) / w)} ${f((y2 - y1) / h)}`;
}

function evalSet(gtFile, out, root) {
  const rows = {};
  for (const line of fs.readFileSync(gtFile, 'utf8').split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [img, cls, box] = line.split('\t');
    const id = COCO80.indexOf(cls);
    if (id < 0 || !box) fail(`${gtFile}: bad line '${line}'`);
    (rows[img] = rows[img] || []).push([id, ...box.trim().split(/\s+/).map(Number)]);
  }
  fs.mkdirSync(path.join(out, 'images/val'), { recursive: true });
  fs.mkdirSync(path.join(out, 'labels/val'), { recursive: true });
  // Each photo's file (under ROOT when it is not at its own path) and size, read once. A photo is
  // named after its path in GT (flattened) even when it is read from under ROOT.
  const found = {};
  for (const img of Object.keys(rows)) {
    const src = !fs.existsSync(img) && root && fs.existsSync(path.join(root, img)) ? path.join(root, img) : img;
    if (!fs.existsSync(src))
      fail(`${img}: missing (install the Debian package that ships it, or run scripts/default_model/fetch_heldout.sh)`);
    found[img] = { src, ...imageSize(src) };
  }
  for (const [img, boxes] of Object.entries(rows)) {
    const { src, w, h } = found[img];
    const s = flatName(img);
    fs.copyFileSync(src, path.join(out, 'images/val', `${s}${path.extname(img).toLowerCase()}`));
    const lines = boxes.map(([c, x1, y1, x2, y2]) => yoloLine(c, x1, y1, x2, y2, w, h)).filter(Boolean);
    fs.writeFileSync(path.join(out, 'labels/val', `${s}.txt`), lines.join('\n') + '\n');
  }
  fs.writeFileSync(path.join(out, 'data.yaml'), dataYaml(path.resolve(out), COCO80, { val: 'images/val' },
    `real photos with hand-checked boxes (${gtFile}); evaluation only, never training`));
  // The same boxes as COCO instances, image ids in sorted file order as `yolonas val` numbers a YOLO
  // split, category ids = class indices: `yolonas val gt=OUT/instances.json pred=...` scores any
  // detector's results (the teacher's, see `preds`).
  const coco = { images: [], annotations: [], categories: COCO80.map((n, i) => ({ id: i, name: n })) };
  Object.keys(rows).map((img) => [flatName(img), img]).sort((x, y) => (x[0] < y[0] ? -1 : 1)).forEach(([s, img], id) => {
    const { src, w, h } = found[img];
    coco.images.push({ id, file_name: `${s}${path.extname(img).toLowerCase()}`, width: w, height: h, source: src });
    for (const [c, x1, y1, x2, y2] of rows[img])
      coco.annotations.push({ id: coco.annotations.length + 1, image_id: id, category_id: c, iscrowd: 0,
        bbox: [x1, y1, x2 - x1, y2 - y1], area: (x2 - x1) * (y2 - y1) });
  });
  fs.writeFileSync(path.join(out, 'instances.json'), JSON.stringify(coco));
  console.log(`eval set: ${Object.keys(rows).length} images, ${Object.values(rows).flat().length} boxes -> ${out}`);
}

function readJsonl(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function pseudo(jsonl, out, conf, namesFile, ignoreConf) {
  const names = readNames(namesFile);
  const dirs = ['images/train', 'labels/train', 'images/val', 'labels/val'];
  if (ignoreConf !== undefined) dirs.push('ignore/train', 'ignore/val');
  for (const d of dirs) fs.mkdirSync(path.join(out, d), { recursive: true });
  let images = 0, boxes = 0, empty = 0, ignored = 0;
  for (const r of readJsonl(jsonl)) {
    if (r.error) continue;
    const lines = [];
    // The teacher often gives one object two classes (horse and cow): only the better one is kept
    // when two boxes of different classes overlap by IoU > 0.7.
    const kept = [];
    for (const d of [...r.detections].sort((x, y) => y.score - x.score)) {
      if (d.score < conf) continue;
      if (kept.some((e) => e.class !== d.class && iou(e.box, d.box) > 0.7)) continue;
      kept.push(d);
    }
    for (const d of kept) {
      const k = names.indexOf(d.class);
      if (k < 0) continue;
      const l = yoloLine(k, d.box[0], d.box[1], d.box[2], d.box[3], r.width, r.height);
      if (l) lines.push(l);
    }
    // Objects of classes outside the list stay unlabelled (background for this model).
    const s = stemOf(r.file);
    const split = images % 10 === 9 ? 'val' : 'train';  // every 10th image held out for validation
    const dst = path.join(out, 'images', split, `${s}.jpg`);
    if (!fs.existsSync(dst)) fs.symlinkSync(path.resolve(r.file), dst);
    fs.writeFileSync(path.join(out, 'labels', split, `${s}.txt`), lines.length ? lines.join('\n') + '\n' : '');
    ++images; boxes += lines.length; empty += lines.length ? 0 : 1;
    if (ignoreConf === undefined) continue;
    // The teacher's uncertain objects: neither labels nor background.
    const unsure = [];
    for (const d of r.detections) {
      const k = names.indexOf(d.class);
      if (k < 0 || d.score < ignoreConf || d.score >= conf) continue;
      const l = yoloLine(k, d.box[0], d.box[1], d.box[2], d.box[3], r.width, r.height);
      if (l) unsure.push(l);
    }
    if (unsure.length) fs.writeFileSync(path.join(out, 'ignore', split, `${s}.txt`), unsure.join('\n') + '\n');
    ignored += unsure.length;
  }
  fs.writeFileSync(path.join(out, 'data.yaml'), dataYaml(path.resolve(out), names,
    { train: 'images/train', val: 'images/val' }, `pseudo-labels of ${jsonl} at score >= ${conf}`));
  console.log(`pseudo-labelled set: ${images} images (${empty} without boxes), ${boxes} boxes` +
    (ignoreConf === undefined ? '' : `, ${ignored} ignore regions`) + ` -> ${out}`);
}

function remap(dir, namesFile) {
  const names = readNames(namesFile);
  const yaml = fs.readFileSync(path.join(dir, 'data.yaml'), 'utf8');
  const own = [];
  for (const m of yaml.matchAll(/^\s+(\d+):\s*"?([^"\n]+)"?\s*$/gm)) own[Number(m[1])] = m[2].trim();
  const map = own.map((n) => names.indexOf(n));
  let files = 0;
  for (const split of ['train', 'val']) {
    const ld = path.join(dir, 'labels', split);
    if (!fs.existsSync(ld)) continue;
    for (const f of fs.readdirSync(ld)) {
      const p = path.join(ld, f);
      const lines = fs.readFileSync(p, 'utf8').split('\n').filter((l) => l.trim()).map((l) => {
        const parts = l.trim().split(/\s+/);
        const k = map[Number(parts[0])];
        if (k === undefined || k < 0) fail(`${p}: class ${parts[0]} (${own[Number(parts[0])]}) is not in ${namesFile}`);
        return [k, ...parts.slice(1)].join(' ');
      });
      fs.writeFileSync(p, lines.length ? lines.join('\n') + '\n' : '');
      ++files;
    }
  }
  const splits = {};
  for (const s of ['train', 'val']) if (fs.existsSync(path.join(dir, 'images', s))) splits[s] = `images/${s}`;
  fs.writeFileSync(path.join(dir, 'data.yaml'), dataYaml(path.resolve(dir), names, splits, `remapped to ${namesFile}`));
  console.log(`remapped ${files} label files of ${dir} to ${names.length} classes`);
}

// A teacher's detections on the eval set's images as COCO results for `yolonas val gt= pred=`.
function preds(jsonl, instances) {
  const coco = JSON.parse(fs.readFileSync(instances, 'utf8'));
  const idOf = new Map(coco.images.map((im) => [im.source, im.id]));
  const out = [];
  for (const r of readJsonl(jsonl)) {
    if (!idOf.has(r.file)) continue;
    for (const d of r.detections)
      out.push({ image_id: idOf.get(r.file), category_id: d.class_id, score: d.score,
        bbox: [d.box[0], d.box[1], d.box[2] - d.box[0], d.box[3] - d.box[1]] });
  }
  process.stdout.write(JSON.stringify(out));
}

function stats(jsonl, conf) {
  const per = {};
  for (const r of readJsonl(jsonl)) {
    if (r.error) continue;
    const seen = new Set();
    for (const d of r.detections) {
      if (d.score < conf) continue;
      const e = (per[d.class] = per[d.class] || { boxes: 0, images: 0 });
      e.boxes += 1;
      if (!seen.has(d.class)) { seen.add(d.class); e.images += 1; }
    }
  }
  for (const [k, v] of Object.entries(per).sort((a, b) => b[1].boxes - a[1].boxes))
    console.log(`${k.padEnd(16)} ${String(v.boxes).padStart(5)} boxes ${String(v.images).padStart(5)} images`);
}

function backgrounds(jsonl, dir, maxScore) {
  let n = 0;
  for (const r of readJsonl(jsonl)) {
    if (r.error || r.detections.some((d) => d.score >= maxScore)) continue;
    const img = path.join(dir, 'images/train', `${stemOf(r.file)}.jpg`);
    if (fs.existsSync(img)) { console.log(path.resolve(img)); ++n; }
  }
  if (!n) fail(`${jsonl}: no training picture of ${dir} is free of detections at score >= ${maxScore}`);
}

const [cmd, ...a] = process.argv.slice(2);
if (cmd === 'eval' && (a.length === 2 || a.length === 3)) evalSet(a[0], a[1], a[2]);
else if (cmd === 'pseudo' && (a.length === 4 || a.length === 5))
  pseudo(a[0], a[1], Number(a[2]), a[3], a.length === 5 ? Number(a[4]) : undefined);
else if (cmd === 'remap' && a.length === 2) remap(a[0], a[1]);
else if (cmd === 'stats' && a.length === 2) stats(a[0], Number(a[1]));
else if (cmd === 'preds' && a.length === 2) preds(a[0], a[1]);
else if (cmd === 'backgrounds' && a.length === 3) backgrounds(a[0], a[1], Number(a[2]));
else fail('usage: eval GT OUT [ROOT] | pseudo JSONL OUT CONF NAMES | remap YOLO_DIR NAMES | stats JSONL CONF | ' +
  'preds JSONL INSTANCES | backgrounds JSONL PSEUDO_DIR MAX_SCORE');
