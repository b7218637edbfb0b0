// Markdown report of a detector on the hand-checked real photos and on vtest.avi (issue 13's figures).
// usage: node report.js [--root ROOT] GT.txt CONF NAME=DETECTIONS... [--video NAME=DETECTIONS]
//   GT.txt: assets/real_photos_gt.txt or assets/heldout_photos_gt.txt; ROOT: where fetch_heldout.sh
//   unpacked the photos that are not installed (a detection file names them under ROOT).
//   DETECTIONS: `yolonas predict save_json=true`'s predictions.json (image_id = file stem,
//   category_name) or the teacher's .jsonl (scripts/teacher/label.js).
//   CONF: the score from which a detection counts as found (the model's own threshold).
// For each photo: what is found (class, score) and which hand-boxed objects are found (same class,
// IoU >= 0.5). Confident mistakes: detections scoring >= 0.5 whose class is wrong for the object
// they cover (IoU >= 0.5 with a box of another class) or that cover no boxed object at all.
'use strict';
const fs = require('fs');
const path = require('path');

const { iou, flatName } = require('./common.js');

let ROOT = null;
const stemOf = (f) => {
  if (ROOT && f.startsWith(ROOT + '/')) f = f.slice(ROOT.length);
  return f.startsWith('/') ? flatName(f) : path.basename(f).replace(/\.[^.]*$/, '');
};
const shortName = (k) => k.replace(/^usr_share_(darknet_data_|doc_labelme-examples_examples_bbox_detection_data_dataset_voc_JPEGImages_|doc_opencv-doc_examples_data_)/, '')
  .replace(/^usr_lib_python3_dist-packages_skimage_data_/, 'skimage ').replace(/^npm_@vladmandic_face-api@[0-9.]+_demo_/, 'face-api ');

const EVERY_FRAME = Symbol('every frame listed');

function readDetections(file) {
  const by = {};
  if (file.endsWith('.jsonl')) by[EVERY_FRAME] = true;
  const push = (k, d) => (by[k] = by[k] || []).push(d);
  const text = fs.readFileSync(file, 'utf8');
  if (file.endsWith('.jsonl')) {
    for (const l of text.split('\n')) {
      if (!l.trim()) continue;
      const r = JSON.parse(l);
      by[stemOf(r.file)] = by[stemOf(r.file)] || [];
      for (const d of r.detections || []) push(stemOf(r.file), { cls: d.class, score: d.score, box: d.box });
    }
  } else {
    for (const d of JSON.parse(text))
      push(String(d.image_id), { cls: d.category_name, score: d.score,
        box: [d.bbox[0], d.bbox[1], d.bbox[0] + d.bbox[2], d.bbox[1] + d.bbox[3]] });
  }
  return by;
}

function readGt(file) {
  const gt = {};
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!l.trim() || l.startsWith('#')) continue;
    const [img, cls, box] = l.split('\t');
    (gt[stemOf(img)] = gt[stemOf(img)] || []).push({ cls, box: box.trim().split(/\s+/).map(Number) });
  }
  return gt;
}

function photos(gt, name, dets, conf) {
  const out = [`### ${name}`, '', '| photo | found (score >= ' + conf + ') | boxed objects found | confident mistakes (>= 0.5) |',
    '|---|---|---|---|'];
  let found = 0, total = 0, mistakes = 0;
  for (const [img, objs] of Object.entries(gt)) {
    const d = (dets[img] || []).filter((x) => x.score >= conf).sort((a, b) => b.score - a.score);
    const hit = objs.map((o) => d.some((x) => x.cls === o.cls && iou(x.box, o.box) >= 0.5));
    const perClass = {};
    objs.forEach((o, i) => { const e = (perClass[o.cls] = perClass[o.cls] || [0, 0]); e[1] += 1; e[0] += hit[i] ? 1 : 0; });
    found += hit.filter(Boolean).length; total += objs.length;
    const wrong = [];
    for (const x of d) {
      if (x.score < 0.5) continue;
      if (objs.some((o) => o.cls === x.cls && iou(x.box, o.box) >= 0.5)) continue;
      const other = objs.find((o) => iou(x.box, o.box) >= 0.5);
      wrong.push(`${x.cls} ${x.score.toFixed(2)} ${other ? `on a ${other.cls}` : 'on no boxed object'}`);
    }
    mistakes += wrong.length;
    out.push(`| ${shortName(img)} | ${d.map((x) => `${x.cls} ${x.score.toFixed(2)}`).join(', ') || '-'} | ` +
      `${Object.entries(perClass).map(([c, [h, n]]) => `${c} ${h}/${n}`).join(', ')} | ${wrong.join('; ') || 'none'} |`);
  }
  out.push('', `${name}: ${found} of ${total} boxed objects found at score >= ${conf}; ${mistakes} confident mistakes.`, '');
  return out.join('\n');
}

function video(name, dets, conf) {
  // predict's predictions.json has no entry for a frame without detections: frame ids (video_N,
  // N from 0) give the count; the teacher's .jsonl has a line for every frame it saw.
  let frames = Object.keys(dets).length;
  if (!dets[EVERY_FRAME])
    for (const k of Object.keys(dets)) {
      const m = k.match(/_(\d+)$/);
      if (m) frames = Math.max(frames, Number(m[1]) + 1);
    }
  const counts = Object.values(dets).map((d) => d.filter((x) => x.cls === 'person' && x.score >= conf).length);
  while (counts.length < frames) counts.push(0);
  const other = {};
  for (const d of Object.values(dets))
    for (const x of d) if (x.cls !== 'person' && x.score >= conf) other[x.cls] = (other[x.cls] || 0) + 1;
  const sum = counts.reduce((a, b) => a + b, 0);
  const hist = {};
  for (const c of counts) hist[c] = (hist[c] || 0) + 1;
  return [`### ${name}: vtest.avi`, '',
    `${frames} frames; persons per frame (score >= ${conf}): mean ${(sum / Math.max(1, frames)).toFixed(2)}, ` +
    `frames with at least one: ${counts.filter((c) => c > 0).length}; histogram ` +
    Object.entries(hist).sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k}: ${v}`).join(', ') + '.',
    `Other classes (boxes over all frames): ${Object.entries(other).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}.`,
    ''].join('\n');
}

const args = process.argv.slice(2);
if (args[0] === '--root') { ROOT = path.resolve(args[1]); args.splice(0, 2); }
if (args.length < 3) {
  console.error('usage: node report.js [--root ROOT] GT.txt CONF NAME=DETECTIONS... [--video NAME=DETECTIONS]');
  process.exit(2);
}
const gt = readGt(args[0]);
const conf = Number(args[1]);
for (let i = 2; i < args.length; ++i) {
  const isVideo = args[i] === '--video';
  if (isVideo) ++i;
  const eq = args[i].indexOf('=');
  const name = args[i].slice(0, eq), file = args[i].slice(eq + 1);
  const dets = readDetections(file);
  console.log(isVideo ? video(name, dets, conf) : photos(gt, name, dets, conf));
}
