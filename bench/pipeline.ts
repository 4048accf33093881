/**
 * npm run bench:pipeline [-- --n 70000]: `analyze` on Fashion-MNIST written as PNGs (default all 70,000),
 * in a fresh project; prints seconds per step and peak RSS, last line one JSON object.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { analyze } from '../src/core/pipeline.js';
import { fashionMnistPngs } from './fashion-mnist.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '70000' }, k: { type: 'string', default: '10' }, keep: { type: 'boolean' } } });
const n = Number(values.n);
const folder = await fashionMnistPngs('all', n);
const project = await mkdtemp(join(tmpdir(), 'clusterlens-bench-pipeline-'));
const t0 = performance.now();
let lastStep = '';
const summary = await analyze(
  { folder: folder.dir, project, k: Number(values.k), size: 28 },
  {
    onProgress: (p) => {
      if (p.step !== lastStep) process.stderr.write(`${p.step}…\n`);
      lastStep = p.step;
    },
    onLog: (l) => process.stderr.write(l + '\n'),
  },
);
const wall = (performance.now() - t0) / 1000;
for (const [step, s] of Object.entries(summary.timings)) console.log(`${step.padEnd(10)} ${s.toFixed(1)} s`);
console.log(`total      ${wall.toFixed(1)} s   peak RSS ${summary.peakRssMB} MB   backend ${summary.backend}`);
console.log(JSON.stringify({ bench: 'pipeline', n: summary.images, seconds: Math.round(wall * 10) / 10, steps: summary.timings, peakRssMB: summary.peakRssMB, backend: summary.backend, projection: summary.projection.method, target: { seconds: 300, peakRssMB: 3072 } }));
if (!values.keep) await rm(project, { recursive: true, force: true });
