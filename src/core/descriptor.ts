/**
 * The shape descriptor: every image's HOG (src/core/hog.ts) reduced to its 50 principal components, and the map's
 * input made from it and the autoencoder's codes (`combineFeatures`).
 *
 * The principal components are fitted on at most 10,000 images (a seeded sample) and all images are projected in
 * chunks, so the full HOG matrix (1,764 floats an image at 32 px) is never held at once. The covariance and the
 * products of the subspace iteration run on tfjs (wasm SIMD here), and 40 iterations are enough: 4.6 s in all
 * for 10,000 images at 1,296 dimensions (6.4 s for 70,000), where 300 iterations took 19 s.
 */
import { hogBatch, hogLayout, type HogLayout } from './hog.js';
import { topEigenvectors } from './tsne/pca.js';
import { initTf, tf } from './tf/backend.js';
import { sampleIndices, seededRandom } from './random.js';
import { throttledProgress, throwIfAborted, yieldToEventLoop, type StepOptions } from './types.js';

/** Bump when the descriptor's definition changes, so cached descriptors are recomputed. */
export const DESCRIPTOR_VERSION = 1;
export const DESCRIPTOR_DIMS = 50;
const PCA_SAMPLE = 10_000;
const CHUNK = 2048;
const PCA_SAMPLE_SEED = 1;
/**
 * Subspace iterations for the components. The descriptor needs the leading subspace, not eigenvectors to 1e-10:
 * at 40 iterations Fashion-MNIST's 10-NN vote is the same as at 300 (0.867) in a tenth of the time.
 */
const SUBSPACE_ITERATIONS = 40;

export interface Descriptor {
  /** n × d, row-major */
  data: Float32Array;
  d: number;
  layout: HogLayout;
  /** Share of the HOG variance the d components keep. */
  explained: number;
}

/** Copies images `rows` of `pixels` into one contiguous block. */
function gather(pixels: Uint8Array, per: number, rows: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(rows.length * per);
  for (let i = 0; i < rows.length; i++) out.set(pixels.subarray(rows[i] * per, (rows[i] + 1) * per), i * per);
  return out;
}

export async function shapeDescriptor(
  pixels: Uint8Array,
  n: number,
  size: number,
  channels: number,
  opts: StepOptions & { dims?: number } = {},
): Promise<Descriptor> {
  const { signal, onProgress } = opts;
  await initTf();
  const layout = hogLayout(size);
  const D = layout.dims;
  const per = size * size * channels;
  if (pixels.length !== n * per) throw new RangeError(`expected ${n} images of ${size}×${size}×${channels}`);
  const chunks = Math.ceil(n / CHUNK);
  const total = chunks + 2;
  let done = 0;
  const report = throttledProgress(onProgress, () => ({ step: 'descriptor', done, total, message: done === 0 ? 'fitting' : 'describing images' }));
  report(true);

  // fit: mean and principal components of the HOG of a sample
  // a fixed sample, not the run's seed: the descriptor is a property of the images, cached across runs
  const rows = sampleIndices(n, Math.min(n, PCA_SAMPLE), seededRandom(PCA_SAMPLE_SEED));
  const m = rows.length;
  const sample = hogBatch(gather(pixels, per, rows), size, channels, 0, m, layout);
  throwIfAborted(signal);
  const q = Math.max(1, Math.min(opts.dims ?? DESCRIPTOR_DIMS, D, m - 1));
  const x = tf.tensor2d(sample, [m, D]);
  const mean = tf.tidy(() => tf.mean(x, 0));
  const [cov, traceT] = tf.tidy(() => {
    const xc = tf.sub(x, mean);
    // the covariance, and its trace (the total variance) for the share the components keep
    return [tf.div(tf.matMul(xc, xc, true, false), m), tf.div(tf.sum(tf.square(xc)), m)];
  });
  x.dispose();
  let components: Float32Array;
  let explained: number;
  try {
    const eig = topEigenvectors(
      (V, p) => {
        const out = tf.tidy(() => tf.matMul(tf.tensor2d(Float32Array.from(V), [p, D]), cov).dataSync());
        return Float64Array.from(out);
      },
      D,
      q,
      SUBSPACE_ITERATIONS,
    );
    components = Float32Array.from(eig.vectors);
    const trace = traceT.dataSync()[0];
    explained = trace > 0 ? eig.values.reduce((a, b) => a + Math.max(b, 0), 0) / trace : 1;
  } finally {
    tf.dispose([cov, traceT]);
  }
  done++;
  report(true);
  await yieldToEventLoop();

  // project every image, a chunk at a time
  const data = new Float32Array(n * q);
  const compT = tf.tidy(() => tf.transpose(tf.tensor2d(components, [q, D])));
  const buffer = new Float32Array(Math.min(CHUNK, n) * D);
  try {
    for (let c = 0; c < chunks; c++) {
      throwIfAborted(signal);
      const from = c * CHUNK;
      const to = Math.min(n, from + CHUNK);
      const h = hogBatch(pixels, size, channels, from, to, layout, buffer).subarray(0, (to - from) * D);
      const proj = tf.tidy(() => tf.matMul(tf.sub(tf.tensor2d(h, [to - from, D]), mean), compT).dataSync());
      data.set(proj, from * q);
      done++;
      report();
      await yieldToEventLoop();
    }
  } finally {
    compT.dispose();
    mean.dispose();
  }
  done = total;
  report(true);
  return { data, d: q, layout, explained };
}

/** Each column's mean, and the mean of the columns' standard deviations (1 when they are all 0). */
function blockScale(x: Float32Array, n: number, d: number): { mean: Float64Array; scale: number } {
  const mean = new Float64Array(d);
  const sq = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += x[i * d + t];
  for (let t = 0; t < d; t++) mean[t] /= Math.max(n, 1);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) {
      const v = x[i * d + t] - mean[t];
      sq[t] += v * v;
    }
  }
  let s = 0;
  for (let t = 0; t < d; t++) s += Math.sqrt(sq[t] / Math.max(n, 1));
  s /= Math.max(d, 1);
  return { mean, scale: s > 0 ? s : 1 };
}

/**
 * The codes and the descriptor side by side, each block centred and divided by its mean column standard deviation,
 * so that the two weigh the same in distances whatever their scales: n × (dc + dd).
 */
export function combineFeatures(codes: Float32Array, dc: number, desc: Float32Array, dd: number, n: number): Float32Array {
  const a = blockScale(codes, n, dc);
  const b = blockScale(desc, n, dd);
  const d = dc + dd;
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < dc; t++) out[i * d + t] = (codes[i * dc + t] - a.mean[t]) / a.scale;
    for (let t = 0; t < dd; t++) out[i * d + dc + t] = (desc[i * dd + t] - b.mean[t]) / b.scale;
  }
  return out;
}
