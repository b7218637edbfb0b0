// Runs an ONNX file in ONNX Runtime (npm onnxruntime-node), for the tests and `yolonas benchmark
// engine=ort`. Not part of the product: yolonas itself never needs node.
//
//   node scripts/ort_run.js MODEL.onnx INPUT.f32 B C H W OUTDIR [threads=0] [iters=1] [warmup=0]
//
// INPUT.f32: B*C*H*W raw little-endian float32 (NCHW). Writes OUTDIR/<output>.f32 (raw float32) and
// OUTDIR/outputs.json: {"outputs": {name: dims}, "ms": [time of each timed run], "ort": version}.
// Finds onnxruntime-node in third_party/ort (scripts/setup.sh installs it there) or on NODE_PATH.
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt() {
  const local = path.join(__dirname, '..', 'third_party', 'ort', 'node_modules', 'onnxruntime-node');
  try { return require(local); } catch (e) { return require('onnxruntime-node'); }
}

(async () => {
  const [model, input, B, C, H, W, outdir, threads = '0', iters = '1', warmup = '0'] = process.argv.slice(2);
  if (!outdir) {
    console.error('usage: node ort_run.js MODEL.onnx INPUT.f32 B C H W OUTDIR [threads] [iters] [warmup]');
    process.exit(2);
  }
  const ort = loadOrt();
  const dims = [B, C, H, W].map(Number);
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`input holds ${data.length} floats, not ${dims}`);
  const opts = { graphOptimizationLevel: 'all' };
  if (Number(threads) > 0) { opts.intraOpNumThreads = Number(threads); opts.interOpNumThreads = 1; }
  const session = await ort.InferenceSession.create(model, opts);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, dims) };
  let out;
  for (let i = 0; i < Number(warmup); i++) out = await session.run(feeds);
  const ms = [];
  for (let i = 0; i < Math.max(1, Number(iters)); i++) {
    const t0 = process.hrtime.bigint();
    out = await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  fs.mkdirSync(outdir, { recursive: true });
  const shapes = {};
  for (const name of session.outputNames) {
    const t = out[name];
    const f = t.type === 'float32' ? t.data : Float32Array.from(t.data, Number);
    fs.writeFileSync(path.join(outdir, name + '.f32'), Buffer.from(f.buffer, f.byteOffset, f.byteLength));
    shapes[name] = t.dims.map(Number);
  }
  let version = '';
  try { version = require(path.join(path.dirname(require.resolve(path.join(__dirname, '..', 'third_party', 'ort', 'node_modules', 'onnxruntime-node'))), '..', 'package.json')).version; } catch (e) {}
  fs.writeFileSync(path.join(outdir, 'outputs.json'), JSON.stringify({ outputs: shapes, ms, ort: version }));
})().catch((e) => { console.error('ort_run: ' + (e && e.message ? e.message : e)); process.exit(1); });
