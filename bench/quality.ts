/**
 * npm run bench:quality [-- --quick] [-- --dataset emoji]: cluster quality of the real pipeline (default settings).
 * Fashion-MNIST: all 70,000 images, or with --quick the 10,000-image test split (size 28). emoji: the colour set of
 * bench/colour-emoji.ts (1,906 Noto emoji in 9 categories from the npm package emoji-datasource-google, size 32).
 * Prints ACC (Hungarian), NMI and purity at k = number of classes (10 for Fashion-MNIST, 9 for emoji), and the
 * labeling curve: the fraction of images correctly labeled after labeling each cluster by its majority class, for
 * k = 10, 20, 50, 100. The default cluster method is measured first; then the same codes and map are clustered
 * again with the other methods (only clustering is redone; 'manifold' adds its second t-SNE, timed as
 * 'cluster-space') for comparison; --methods a,b picks which. With the default --map-features auto, the map is
 * of the codes below 20 clusters and of the codes and the shape descriptor from 20 (each k runs the real
 * pipeline, which makes or swaps in the map that k gets); --map-features codes|codes+hog fixes one.
 * Last line: one JSON object.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { analyze } from '../src/core/pipeline.js';
import { ProjectStore } from '../src/core/project.js';
import { DEFAULTS } from '../src/core/defaults.js';
import { clusteringAccuracy, nmi, purity } from '../src/core/metrics.js';
import { fashionMnistPngs } from './fashion-mnist.js';
import { emojiPngs } from './colour-emoji.js';

const { values } = parseArgs({
  options: { quick: { type: 'boolean' }, n: { type: 'string' }, keep: { type: 'boolean' }, dataset: { type: 'string', default: 'fashion-mnist' }, seed: { type: 'string' }, methods: { type: 'string' }, 'map-features': { type: 'string' } },
});
const log = (l: string) => process.stderr.write(l + '\n');
let folder: { dir: string; truth: Map<string, number> };
let dataset: string;
let size: number;
let classes: number;
if (values.dataset === 'emoji') {
  const e = await emojiPngs();
  folder = e;
  dataset = 'emoji-google-16.0.0';
  size = 32;
  classes = e.classes.length;
} else if (values.dataset === 'fashion-mnist') {
  const split = values.quick ? 'test' : 'all';
  folder = await fashionMnistPngs(split, values.n ? Number(values.n) : undefined);
  dataset = `fashion-mnist-${split}`;
  size = 28;
  classes = 10;
} else {
  throw new Error(`unknown --dataset ${values.dataset} (fashion-mnist or emoji)`);
}
const seed = values.seed ? Number(values.seed) : undefined;
const project = await mkdtemp(join(tmpdir(), 'clusterlens-bench-quality-'));
const t0 = performance.now();
const mapFeatures = values['map-features'] as (typeof DEFAULTS.mapFeatures) | undefined;
if (mapFeatures && !['auto', 'codes', 'codes+hog'].includes(mapFeatures)) throw new Error(`unknown --map-features ${mapFeatures} (auto, codes or codes+hog)`);
const first = await analyze({ folder: folder.dir, project, k: classes, size, seed, mapFeatures }, { onLog: log });
const store = await ProjectStore.open(project);
const truth = Int32Array.from(store.manifest.images, (img) => folder.truth.get(img.path)!);

type MapFeatures = 'codes' | 'codes+hog';
type Figures = { method: string; atK: { k: number; acc: number; nmi: number; purity: number; map: MapFeatures }; labelingCurve: { k: number; correct: number; map: MapFeatures }[]; seconds: Record<string, number> };
const only = values.methods?.split(',') as (typeof DEFAULTS.clusterMethod)[] | undefined;
const methods = only ?? [DEFAULTS.clusterMethod!, ...(['kmeans', 'merge', 'manifold'] as const).filter((m) => m !== DEFAULTS.clusterMethod)];
const results: Figures[] = [];
for (const method of methods) {
  const seconds: Record<string, number> = {};
  let map: MapFeatures = 'codes';
  const read = async () => {
    const st = await ProjectStore.open(project);
    map = st.manifest.projection?.features ?? 'codes';
    return st.readClusters();
  };
  const cluster = async (k: number) => {
    if (k === classes && method === DEFAULTS.clusterMethod) {
      seconds[k] = first.timings.kmeans ?? 0;
      return read();
    }
    const s = await analyze({ project, k, clusterMethod: method }, { onLog: log });
    seconds[k] = s.timings.kmeans ?? 0;
    // a map of other features made for this k (--map-features auto): its own descriptor and t-SNE time
    for (const step of ['descriptor', 'tsne'] as const) if (s.timings[step]) seconds[`${step}@k${k}`] = s.timings[step];
    if (s.timings['cluster-space']) seconds['cluster-space'] = s.timings['cluster-space'];
    return read();
  };
  const c = await cluster(classes);
  const atK = { k: classes, acc: clusteringAccuracy(c, truth), nmi: nmi(c, truth), purity: purity(c, truth), map };
  console.log(`[${method}] n=${store.n}  k=${classes}  ACC ${atK.acc.toFixed(3)}  NMI ${atK.nmi.toFixed(3)}  purity ${atK.purity.toFixed(3)}  (map of the ${map})`);
  const curve: Figures['labelingCurve'] = [];
  for (const k of [10, 20, 50, 100]) {
    // labeling every cluster by its majority class makes exactly `purity` of the images right
    const p = k === classes ? atK.purity : purity(await cluster(k), truth);
    const used = k === classes ? atK.map : map;
    curve.push({ k, correct: p, map: used });
    console.log(`[${method}] labeling curve: ${k} cluster-label actions → ${(100 * p).toFixed(1)}% correctly labeled (map of the ${used})`);
  }
  results.push({ method: String(method), atK, labelingCurve: curve, seconds });
}
const seconds = (performance.now() - t0) / 1000;
const pipelineSeconds = Object.values(first.timings).reduce((a, b) => a + b, 0);
console.log(`pipeline seconds ${JSON.stringify(first.timings)} (total ${pipelineSeconds.toFixed(1)} s); total bench ${seconds.toFixed(1)} s`);
const main = results[0];
console.log(
  JSON.stringify({
    bench: 'quality',
    dataset,
    n: store.n,
    method: main.method,
    mapFeatures: mapFeatures ?? DEFAULTS.mapFeatures,
    [`k${classes}`]: main.atK,
    labelingCurve: main.labelingCurve,
    methods: results,
    pipelineSeconds: first.timings,
    pipelineTotal: Math.round(pipelineSeconds * 10) / 10,
    seconds: Math.round(seconds * 10) / 10,
    ...(dataset.startsWith('fashion-mnist') ? { references: { dec_keras_ae_kmeans: { acc: 0.61, nmi: 0.64 }, n2d: { acc: 0.672, nmi: 0.684 } } } : {}),
  }),
);
if (values.keep) log(`project kept: ${project}`);
else await rm(project, { recursive: true, force: true });
