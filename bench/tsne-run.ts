/** One t-SNE run in its own process (so peak RSS is its own): tsne-run.ts <in.npy> <out.npy>; prints one JSON line. */
import { readNpy, writeNpy } from '../src/core/npy.js';
import { seededRandom } from '../src/core/random.js';
import { BarnesHutProjector } from '../src/core/tsne/index.js';

const [inFile, outFile] = process.argv.slice(2);
const { data, shape } = await readNpy(inFile);
const [n, d] = shape;
const t0 = performance.now();
const res = await new BarnesHutProjector().project(data as Float32Array, n, d, { random: seededRandom(1) });
const seconds = (performance.now() - t0) / 1000;
await writeNpy(outFile, res.coords, [n, 2]);
console.log(JSON.stringify({ seconds, peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024), method: res.method, kl: res.kl }));
