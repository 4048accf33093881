/**
 * Latency of latent-space similarity search (not a test).
 *
 *   npx tsx bench/similar.ts [--n 100000] [--d 32] [--queries 300] [--k 10] [--metric euclidean|cosine] [--check 50]
 *
 * Data: seeded Gaussian blobs (20 centres), n × d float32. Prints the index build time, query latency
 * p50/p99 (each query leaves its own row out, as `clusterlens similar` does for a project image), and recall@k
 * against a separate naive exact search (a plain sort of every distance) on `--check` of the queries: 1.0 means
 * every returned neighbour set equals the exact one. The last line is one JSON object.
 */
import { gaussian, seededRandom } from '../src/core/random.js';
import { NeighborIndex, distanceTo, parseMetric } from '../src/core/neighbors.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const n = Number(arg('n', '100000'));
const d = Number(arg('d', '32'));
const queries = Number(arg('queries', '300'));
const k = Number(arg('k', '10'));
const metric = parseMetric(arg('metric', 'euclidean'));
const check = Math.min(queries, Number(arg('check', '50')));

const random = seededRandom(42);
const centres = Array.from({ length: 20 * d }, () => gaussian(random) * 4);
const data = new Float32Array(n * d);
for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) data[i * d + t] = centres[(i % 20) * d + t] + gaussian(random);

const t0 = performance.now();
const index = new NeighborIndex(data, n, d);
const buildMs = performance.now() - t0;

const rows = Array.from({ length: queries }, () => Math.floor(random() * n));
// Warm-up (JIT), not timed.
for (let i = 0; i < 5; i++) index.queryRow(rows[i], k, metric);
const times: number[] = [];
const results: number[][] = [];
for (const r of rows) {
  const q0 = performance.now();
  const res = index.queryRow(r, k, metric);
  times.push(performance.now() - q0);
  results.push(res.map((x) => x.index));
}
times.sort((a, b) => a - b);
const pct = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))];

// Recall against a naive exact search: every distance, fully sorted.
let hits = 0;
for (let qi = 0; qi < check; qi++) {
  const r = rows[qi];
  const all: { j: number; dist: number }[] = [];
  for (let j = 0; j < n; j++) if (j !== r) all.push({ j, dist: distanceTo(metric, data, j, d, data, r * d) });
  all.sort((a, b) => a.dist - b.dist || a.j - b.j);
  const truth = new Set(all.slice(0, k).map((x) => x.j));
  // Ties at the k-th distance may legitimately pick another row with the same distance.
  const kth = all[k - 1].dist;
  for (const j of results[qi]) if (truth.has(j) || distanceTo(metric, data, j, d, data, r * d) <= kth) hits++;
}
const recall = check > 0 ? hits / (check * k) : 1;

const out = {
  bench: 'similar',
  method: 'exact blocked scan',
  n,
  d,
  k,
  metric,
  queries,
  buildMs: Number(buildMs.toFixed(2)),
  p50Ms: Number(pct(0.5).toFixed(3)),
  p99Ms: Number(pct(0.99).toFixed(3)),
  maxMs: Number(times[times.length - 1].toFixed(3)),
  recallAt10: recall,
  recallChecked: check,
};
console.log(`build ${out.buildMs} ms · query p50 ${out.p50Ms} ms · p99 ${out.p99Ms} ms · recall@${k} ${recall} (${check} queries checked)`);
console.log(JSON.stringify(out));
