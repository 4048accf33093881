import { describe, expect, it } from 'vitest';
import { NeighborIndex, type Metric } from '../../src/core/neighbors.js';
import { LabelScorer } from '../../src/core/scoring.js';
import { gaussian, seededRandom } from '../../src/core/random.js';

const NAMES = ['A', 'B', 'C'];

/** Seeded Gaussian blobs A, B, C (row i in blob i % 3) plus a random generator for more points. */
function world(n: number, d: number, seed: number) {
  const r = seededRandom(seed);
  const centres = Array.from({ length: 3 * d }, () => (r() * 2 - 1) * 5);
  const point = (b: number) => Float32Array.from({ length: d }, (_, t) => centres[b * d + t] + gaussian(r));
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) data.set(point(i % 3), i * d);
  return { data, point };
}

describe('LabelScorer', () => {
  const n = 300;
  const d = 10;
  for (const metric of ['euclidean', 'cosine'] as Metric[]) {
    it(`${metric}: held-out points of blob A score A first, and B, C low`, () => {
      const { data, point } = world(n, d, 21);
      // Half of each blob is labeled; the rest stays unlabeled.
      const labelOf = Array.from({ length: n }, (_, i) => (i < n / 2 ? NAMES[i % 3] : undefined));
      const scorer = LabelScorer.build(new NeighborIndex(data, n, d), labelOf, { metric });
      expect(scorer.labels).toEqual(NAMES);
      let scoreA = 0;
      for (let h = 0; h < 20; h++) {
        const res = scorer.score(point(0));
        expect(res.label).toBe('A');
        expect(res.outlier).toBe(false);
        expect(res.scores.B).toBeLessThan(0.05);
        expect(res.scores.C).toBeLessThan(0.05);
        for (const v of Object.values(res.scores)) expect(v >= 0 && v <= 1).toBe(true);
        scoreA += res.scores.A;
      }
      // A typical member scores around 0.5 against its own label.
      expect(scoreA / 20).toBeGreaterThan(0.2);
      // The unlabeled rows of blob B (row % 3 === 1) are scored as B.
      for (let i = n / 2 + 1; i < n; i += 3) expect(scorer.score(data.subarray(i * d, (i + 1) * d), i).label).toBe('B');
    });
  }

  it('a point unlike anything labeled is an outlier', () => {
    const { data } = world(n, d, 22);
    const labelOf = Array.from({ length: n }, (_, i) => NAMES[i % 3]);
    const scorer = LabelScorer.build(new NeighborIndex(data, n, d), labelOf);
    const far = Float32Array.from({ length: d }, () => 40);
    const res = scorer.score(far);
    expect(res.outlier).toBe(true);
    expect(res.score).toBeLessThan(0.01);
  });

  it('a labeled project image is scored leave-one-out: its own calibration value', () => {
    const { data } = world(n, d, 23);
    const labelOf = Array.from({ length: n }, (_, i) => NAMES[i % 3]);
    const index = new NeighborIndex(data, n, d);
    const scorer = LabelScorer.build(index, labelOf);
    // Without exclusion the image matches itself at distance 0 and scores 1 for its label; leave-one-out it does not.
    const self = scorer.score(index.row(3));
    const loo = scorer.score(index.row(3), 3);
    expect(self.scores.A).toBe(1);
    expect(loo.scores.A).toBeLessThan(1);
    expect(loo.label).toBe('A');
  });

  it('a label with a single member still gives a score in [0, 1]', () => {
    const { data, point } = world(n, d, 24);
    const labelOf: (string | undefined)[] = Array.from({ length: n }, () => undefined);
    labelOf[0] = 'A';
    labelOf[1] = 'B';
    labelOf[4] = 'B';
    const scorer = LabelScorer.build(new NeighborIndex(data, n, d), labelOf);
    const res = scorer.score(point(1));
    expect(res.label).toBe('B');
    expect(res.scores.A).toBeGreaterThanOrEqual(0);
    expect(res.scores.A).toBeLessThanOrEqual(1);
    expect(scorer.score(data.slice(0, d)).scores.A).toBe(1);
  });

  it('nothing labeled: no label, not an outlier', () => {
    const { data } = world(30, d, 25);
    const scorer = LabelScorer.build(new NeighborIndex(data, 30, d), new Array(30).fill(undefined));
    expect(scorer.score(data.subarray(0, d))).toEqual({ label: null, score: 0, scores: {}, outlier: false });
  });
});
