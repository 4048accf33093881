/**
 * npm run bench:quality [-- --quick]: cluster quality of the real pipeline (default settings) on Fashion-MNIST.
 * Full: all 70,000 images; --quick: the 10,000-image test split. Prints ACC (Hungarian), NMI and purity at k=10,
 * and the labeling curve: the fraction of images correctly labeled after labeling each cluster by its majority
 * class, for k = 10, 20, 50, 100. Last line: one JSON object.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { analyze } from '../src/core/pipeline.js';
import { ProjectStore } from '../src/core/project.js';
import { clusteringAccuracy, nmi, purity } from '../src/core/metrics.js';
import { fashionMnistPngs } from './fashion-mnist.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, n: { type: 'string' }, keep: { type: 'boolean' } } });
const split = values.quick ? 'test' : 'all';
const folder = await fashionMnistPngs(split, values.n ? Number(values.n) : undefined);
const project = await mkdtemp(join(tmpdir(), 'clusterlens-bench-quality-'));
const t0 = performance.now();
const log = (l: string) => process.stderr.write(l + '\n');
const first = await analyze({ folder: folder.dir, project, k: 10, size: 28 }, { onLog: log });
const store = await ProjectStore.open(project);
const truth = Int32Array.from(store.manifest.images, (img) => folder.truth.get(img.path)!);
const clusters10 = await store.readClusters();
const at10 = { acc: clusteringAccuracy(clusters10, truth), nmi: nmi(clusters10, truth), purity: purity(clusters10, truth) };
console.log(`n=${store.n}  k=10  ACC ${at10.acc.toFixed(3)}  NMI ${at10.nmi.toFixed(3)}  purity ${at10.purity.toFixed(3)}`);
const curve: { k: number; correct: number }[] = [];
for (const k of [10, 20, 50, 100]) {
  if (k !== 10) await analyze({ project, k }, { onLog: log });
  const c = await (await ProjectStore.open(project)).readClusters();
  // labeling every cluster by its majority class makes exactly `purity` of the images right
  curve.push({ k, correct: purity(c, truth) });
  console.log(`labeling curve: ${k} cluster-label actions → ${(100 * purity(c, truth)).toFixed(1)}% correctly labeled`);
}
const seconds = (performance.now() - t0) / 1000;
console.log(`pipeline seconds ${JSON.stringify(first.timings)}; total bench ${seconds.toFixed(1)} s`);
console.log(JSON.stringify({ bench: 'quality', dataset: `fashion-mnist-${split}`, n: store.n, k10: at10, labelingCurve: curve, pipelineSeconds: first.timings, seconds: Math.round(seconds * 10) / 10, references: { dec_keras_ae_kmeans: { acc: 0.61, nmi: 0.64 }, n2d: { acc: 0.672, nmi: 0.684 } } }));
if (!values.keep) await rm(project, { recursive: true, force: true });
