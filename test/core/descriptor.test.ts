import { describe, it, expect } from 'vitest';
import { readFile } from 'node:fs/promises';
import { combineFeatures, shapeDescriptor } from '../../src/core/descriptor.js';
import { hogBatch, hogLayout } from '../../src/core/hog.js';
import { pca, pcaTransform } from '../../src/core/tsne/pca.js';
import { DEMO_PACK, decodePack } from '../../src/core/demo.js';
import { allKnn } from '../../src/core/neighbors.js';
import { knnVoteAccuracy } from '../../src/core/metrics.js';
import { seededRandom } from '../../src/core/random.js';

const pack = async () => decodePack(await readFile(DEMO_PACK));

/** Pearson correlation of two columns. */
function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

const column = (x: ArrayLike<number>, n: number, d: number, j: number) => Array.from({ length: n }, (_, i) => x[i * d + j]);

describe('shape descriptor', () => {
  it('is the principal components of the HOG, as the plain-JavaScript PCA finds them (with tfjs products)', async () => {
    const { header, pixels } = await pack();
    const n = 400;
    const per = header.width * header.height;
    const px = pixels.subarray(0, n * per);
    const desc = await shapeDescriptor(px, n, header.width, 1, { dims: 4 });
    expect(desc.d).toBe(4);
    expect(desc.data).toHaveLength(n * 4);
    const layout = hogLayout(header.width);
    const hog = hogBatch(px, header.width, 1, 0, n, layout);
    const ref = pcaTransform(hog, n, layout.dims, pca(hog, n, layout.dims, 4));
    for (let j = 0; j < 4; j++) {
      // same component up to its sign
      expect(Math.abs(correlation(column(desc.data, n, 4, j), column(ref, n, 4, j)))).toBeGreaterThan(0.999);
    }
    expect(desc.explained).toBeGreaterThan(0.1);
    expect(desc.explained).toBeLessThan(1);
  });

  it('reports progress and can be cancelled', async () => {
    const { header, pixels } = await pack();
    const steps: string[] = [];
    const r = await shapeDescriptor(pixels.subarray(0, 50 * 784), 50, header.width, 1, { onProgress: (p) => steps.push(`${p.step} ${p.done}/${p.total}`) });
    expect(r.d).toBe(49); // at most n − 1 components
    expect(steps[0]).toBe('descriptor 0/3');
    expect(steps.at(-1)).toBe('descriptor 3/3');
    const ac = new AbortController();
    ac.abort();
    await expect(shapeDescriptor(pixels.subarray(0, 50 * 784), 50, header.width, 1, { signal: ac.signal })).rejects.toThrow(/cancelled/);
  });

  it('on real Fashion-MNIST images, its neighbours share a class more often than the pixels\' do', async () => {
    const { header, labels, pixels } = await pack();
    const n = 2500; // more than one projection chunk (2,048 images)
    const per = header.width * header.height;
    const truth = Int32Array.from(labels.subarray(0, n));
    const desc = await shapeDescriptor(pixels.subarray(0, n * per), n, header.width, 1);
    const raw = Float32Array.from(pixels.subarray(0, n * per), (v) => v / 255);
    const vote = async (x: Float32Array, d: number) => knnVoteAccuracy((await allKnn(x, n, d, 10)).indices, 10, truth);
    const ofDesc = await vote(desc.data, desc.d);
    const ofPixels = await vote(raw, per);
    console.log(`10-NN vote on ${n} Fashion-MNIST images: shape descriptor ${ofDesc.toFixed(3)}, pixels ${ofPixels.toFixed(3)}`);
    expect(ofDesc).toBeGreaterThan(ofPixels + 0.02);
  });

  it('combines codes and descriptor into blocks of equal weight', () => {
    const r = seededRandom(2);
    const n = 500;
    const codes = Float32Array.from({ length: n * 3 }, () => 100 + 50 * r());
    const desc = Float32Array.from({ length: n * 2 }, () => 0.01 * r());
    const f = combineFeatures(codes, 3, desc, 2, n);
    expect(f).toHaveLength(n * 5);
    const stats = (cols: number[]) => {
      const sds = cols.map((j) => {
        const c = column(f, n, 5, j);
        const m = c.reduce((a, b) => a + b, 0) / n;
        expect(Math.abs(m)).toBeLessThan(1e-4);
        return Math.sqrt(c.reduce((a, b) => a + (b - m) ** 2, 0) / n);
      });
      return sds.reduce((a, b) => a + b, 0) / sds.length;
    };
    expect(stats([0, 1, 2])).toBeCloseTo(1, 4);
    expect(stats([3, 4])).toBeCloseTo(1, 4);
    // rows keep their order: the first code column is the codes' first column, rescaled
    expect(correlation(column(f, n, 5, 0), column(codes, n, 3, 0))).toBeCloseTo(1, 6);
  });
});
