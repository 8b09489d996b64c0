// ort_crosscheck.js: optional cross-check of the golden fixtures with ONNX Runtime, independent of
// PyTorch (run after regenerating tests/nn/fixtures; not part of `make check`):
//   mkdir -p /tmp/ort && (cd /tmp/ort && npm install --ignore-scripts onnxruntime-node)
//   NODE_PATH=/tmp/ort/node_modules node tools/ort_crosscheck.js tests/nn/fixtures
// Prints one line per output with the rule of tests/nn/npycmp (max|a-b| / max(max|b|, 1e-3) <= 1e-4)
// and exits 1 on any mismatch; then tries every model in fixtures/bad/ and reports whether ONNX
// Runtime rejects it too (resize_cubic is valid ONNX that dicomaid's engine does not support).
const ort = require('onnxruntime-node');
const fs = require('fs'), path = require('path');
function loadNpy(p) {
  const b = fs.readFileSync(p);
  const major = b[6];
  const hl = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const hs = major === 1 ? 10 : 12;
  const h = b.slice(hs, hs + hl).toString('latin1');
  if (!h.includes("'<f4'")) throw new Error(p + ': not <f4');
  const shape = h.match(/'shape': \(([^)]*)\)/)[1].split(',').map(s => s.trim()).filter(s => s).map(Number);
  const data = new Float32Array(b.buffer.slice(b.byteOffset + hs + hl, b.byteOffset + b.length));
  return { shape, data };
}
(async () => {
  const dir = process.argv[2];
  let fail = 0;
  for (const f of fs.readdirSync(dir).filter(f => f.endsWith('.onnx')).sort()) {
    const name = f.slice(0, -5);
    const inp = loadNpy(path.join(dir, name + '.input.npy'));
    const sess = await ort.InferenceSession.create(path.join(dir, f), { graphOptimizationLevel: 'disabled' });
    const res = await sess.run({ input: new ort.Tensor('float32', inp.data, inp.shape) });
    for (const o of sess.outputNames) {
      const exp = loadNpy(path.join(dir, `${name}.${o}.npy`));
      const got = res[o];
      let me = 0, mr = 0;
      for (let i = 0; i < exp.data.length; i++) { me = Math.max(me, Math.abs(got.data[i] - exp.data[i])); mr = Math.max(mr, Math.abs(exp.data[i])); }
      const rel = me / Math.max(mr, 1e-3);
      const ok = rel <= 1e-4 && JSON.stringify(got.dims) === JSON.stringify(exp.shape);
      if (!ok) fail = 1;
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}.${o} dims=${JSON.stringify(got.dims)} rel_err=${rel.toExponential(2)}`);
    }
  }
  const bad = path.join(dir, 'bad');
  if (fs.existsSync(bad)) {
    const data = new Float32Array(192);
    for (const f of fs.readdirSync(bad).filter(f => f.endsWith('.onnx')).sort()) {
      try {
        const s = await ort.InferenceSession.create(path.join(bad, f));
        await s.run({ input: new ort.Tensor('float32', data, [1, 3, 8, 8]) });
        console.log(`bad/${f}: ONNX Runtime accepts it`);
      } catch (e) {
        console.log(`bad/${f}: ONNX Runtime rejects it: ${String(e.message).split('\n')[0].slice(0, 120)}`);
      }
    }
  }
  process.exit(fail);
})().catch(e => { console.error(e); process.exit(2); });
