import { describe, expect, it } from 'vitest';
import { clusteringAccuracy, majorityLabelingCurve, maxWeightMatching, nmi, purity } from '../../src/core/metrics.js';
import { seededRandom } from '../../src/core/random.js';

const I = (xs: number[]) => Int32Array.from(xs);

/** Rows for a contingency table given as cluster → class counts. */
function fromTable(table: number[][]): { pred: Int32Array; truth: Int32Array } {
  const pred: number[] = [];
  const truth: number[] = [];
  table.forEach((row, k) => row.forEach((count, c) => {
    for (let i = 0; i < count; i++) {
      pred.push(k);
      truth.push(c);
    }
  }));
  return { pred: I(pred), truth: I(truth) };
}

describe('metrics on hand-computed cases', () => {
  // clusters {0,0,0 | 1,1,1} vs classes {0,0,1 | 1,2,2}: table [[2,1,0],[0,1,2]]
  const pred = I([0, 0, 0, 1, 1, 1]);
  const truth = I([0, 0, 1, 1, 2, 2]);

  it('purity, accuracy and NMI', () => {
    expect(purity(pred, truth)).toBeCloseTo(4 / 6, 12);
    expect(clusteringAccuracy(pred, truth)).toBeCloseTo(4 / 6, 12);
    // MI = (2/3) ln 2; H(pred) = ln 2; H(truth) = ln 3; arithmetic normalisation → (4/3) ln 2 / ln 6 = 0.515804…
    expect(nmi(pred, truth)).toBeCloseTo(((4 / 3) * Math.log(2)) / Math.log(6), 12);
    expect(nmi(pred, truth)).toBeCloseTo(0.515804, 6);
  });

  it('NMI is 1 for identical partitions under relabeling, 0 for independent ones', () => {
    expect(nmi(I([0, 0, 1, 1, 2]), I([7, 7, 3, 3, 9]))).toBeCloseTo(1, 12);
    expect(nmi(I([0, 0, 1, 1]), I([0, 1, 0, 1]))).toBe(0);
    expect(nmi(I([4, 4, 4]), I([1, 1, 1]))).toBe(1);
    expect(nmi(I([0, 0, 0, 0]), I([0, 1, 0, 1]))).toBe(0);
  });

  it('accuracy uses one-to-one matching, not greedy, when clusters outnumber classes', () => {
    // Greedy (largest cell first) takes c0→class0 (5) then c2→class1 (1) = 6; the best matching is c0→1, c1→0 = 8.
    const t = fromTable([
      [5, 4],
      [4, 0],
      [0, 1],
    ]);
    expect(clusteringAccuracy(t.pred, t.truth)).toBeCloseTo(8 / 14, 12);
    expect(purity(t.pred, t.truth)).toBeCloseTo(10 / 14, 12);
  });

  it('accuracy with fewer clusters than classes', () => {
    const t = fromTable([
      [3, 4, 0],
      [0, 5, 1],
    ]);
    expect(clusteringAccuracy(t.pred, t.truth)).toBeCloseTo(8 / 13, 12);
    expect(purity(t.pred, t.truth)).toBeCloseTo(9 / 13, 12);
  });

  it('majority labeling curve: largest cluster first, ending at purity', () => {
    const t = fromTable([
      [1, 1, 0], // cluster 0: size 2, majority 1
      [5, 0, 1], // cluster 1: size 6, majority 5
      [0, 2, 2], // cluster 2: size 4, majority 2
    ]);
    const curve = majorityLabelingCurve(t.pred, t.truth);
    expect(curve.map((p) => p.cluster)).toEqual([undefined, 1, 2, 0]);
    expect(curve.map((p) => p.clusters)).toEqual([0, 1, 2, 3]);
    expect(curve.map((p) => p.labeled)).toEqual([0, 6 / 12, 10 / 12, 1]);
    expect(curve.map((p) => p.correct)).toEqual([0, 5 / 12, 7 / 12, 8 / 12]);
    expect(curve[3].correct).toBeCloseTo(purity(t.pred, t.truth), 12);
    // ties in size: lower id first
    expect(majorityLabelingCurve(pred, truth).map((p) => p.cluster)).toEqual([undefined, 0, 1]);
  });

  it('rejects mismatched lengths', () => {
    expect(() => purity(I([0]), I([0, 1]))).toThrow();
    expect(() => majorityLabelingCurve(I([0]), I([0, 1]))).toThrow();
  });
});

function bruteBest(w: number[][], rows: number, cols: number): number {
  let best = -Infinity;
  const used = new Array<boolean>(cols).fill(false);
  const rec = (r: number, acc: number, matched: number) => {
    if (r === rows) {
      if (matched === Math.min(rows, cols)) best = Math.max(best, acc);
      return;
    }
    rec(r + 1, acc, matched); // leave row r unmatched
    for (let c = 0; c < cols; c++) {
      if (used[c]) continue;
      used[c] = true;
      rec(r + 1, acc + w[r][c], matched + 1);
      used[c] = false;
    }
  };
  rec(0, 0, 0);
  return best;
}

describe('Hungarian matching', () => {
  it('equals brute force on random rectangular and square matrices', () => {
    const random = seededRandom(11);
    for (let trial = 0; trial < 60; trial++) {
      const rows = 1 + Math.floor(random() * 6);
      const cols = 1 + Math.floor(random() * 6);
      const w = Array.from({ length: rows }, () => Array.from({ length: cols }, () => Math.floor(random() * 20)));
      const match = maxWeightMatching(Float64Array.from(w.flat()), rows, cols);
      const cols_ = [...match].filter((c) => c >= 0);
      expect(new Set(cols_).size).toBe(cols_.length); // one-to-one
      expect(cols_.length).toBe(Math.min(rows, cols));
      const total = [...match].reduce((s, c, r) => s + (c >= 0 ? w[r][c] : 0), 0);
      expect(total).toBe(bruteBest(w, rows, cols));
    }
  });

  it('accuracy is invariant to renaming clusters and at least purity when k ≤ classes', () => {
    const random = seededRandom(3);
    const n = 200;
    const truth = Int32Array.from({ length: n }, () => Math.floor(random() * 5));
    const pred = Int32Array.from(truth, (t) => (random() < 0.7 ? t : Math.floor(random() * 4)));
    const renamed = Int32Array.from(pred, (p) => 100 - 7 * p);
    expect(clusteringAccuracy(renamed, truth)).toBe(clusteringAccuracy(pred, truth));
    expect(clusteringAccuracy(pred, truth)).toBeLessThanOrEqual(purity(pred, truth));
    expect(clusteringAccuracy(truth, truth)).toBe(1);
    expect(nmi(renamed, truth)).toBeCloseTo(nmi(pred, truth), 12);
  });
});
