/**
 * Scoring an embedding against the project's labels.
 *
 * For a label L with members M (labeled images), the statistic of a vector q is
 *     s_L(q) = mean distance from q to its m nearest members of L        (m = min(5, |M| − 1))
 * and it is calibrated on the label itself: for (a seeded sample of at most 500 of) its members x, the same
 * statistic leave-one-out, s_L(x) over M \ {x}. The score of q for L is the fraction of those calibration values
 * that are ≥ s_L(q), in [0, 1]:
 *     1    q is at least as close to L's members as any member is to the others
 *     0.5  q is as close as a typical member
 *     0    q is farther from L than every member is (a conformal p-value, without the +1)
 * The most likely label is the highest score (ties: the smaller s_L / median calibration value). The outlier flag
 * is set when even the best score is below `alpha` (default 0.01): the image is unlike anything labeled.
 *
 * A label with a single member has no leave-one-out statistic; its calibration is the project's own
 * nearest-neighbour distances (a seeded sample of 200 rows), i.e. "is q as close to that image as images
 * typically are to their most similar other image".
 *
 * When the query is a project image (`exclude`), its own row is left out, so a labeled image is scored exactly
 * like its own calibration value.
 */
import { DEFAULT_METRIC, NeighborIndex, type Metric } from './neighbors.js';
import { heapPush } from './tsne/knn.js';
import { sampleIndices, seededRandom } from './random.js';

export const DEFAULT_SCORE_M = 5;
export const DEFAULT_SCORE_ALPHA = 0.01;
export const DEFAULT_CALIBRATION_SAMPLE = 500;
const SINGLETON_SAMPLE = 200;

export interface LabelScorerOptions {
  /** Nearest members averaged (default 5). */
  m?: number;
  metric?: Metric;
  /** Outlier flag when the best score is below this (default 0.01). */
  alpha?: number;
  /** Members per label used for calibration (default 500: 3 s for 10 labels of 10,000 members, 32 dims). */
  calibrationSample?: number;
  seed?: number;
}

export interface LabelScore {
  /** The most likely label; null when nothing is labeled. */
  label: string | null;
  /** Its score in [0, 1]. */
  score: number;
  /** Score per label, in [0, 1]. */
  scores: Record<string, number>;
  /** Unlike anything labeled: the best score is below alpha. */
  outlier: boolean;
}

interface LabelModel {
  label: string;
  /** Project rows of the members. */
  rows: Int32Array;
  m: number;
  /** Ascending calibration statistics. */
  calibration: Float64Array;
  median: number;
}

export class LabelScorer {
  private constructor(
    private readonly index: NeighborIndex,
    private readonly models: LabelModel[],
    readonly metric: Metric,
    readonly alpha: number,
  ) {}

  get labels(): string[] {
    return this.models.map((x) => x.label);
  }

  /** `labelOf[i]` = the label of row i, or null/undefined when unlabeled. */
  static build(index: NeighborIndex, labelOf: readonly (string | null | undefined)[], opts: LabelScorerOptions = {}): LabelScorer {
    if (labelOf.length !== index.n) throw new Error(`labelOf has ${labelOf.length} entries, expected ${index.n}`);
    const metric = opts.metric ?? DEFAULT_METRIC;
    const mWanted = Math.max(1, Math.floor(opts.m ?? DEFAULT_SCORE_M));
    const cap = Math.max(1, opts.calibrationSample ?? DEFAULT_CALIBRATION_SAMPLE);
    const random = seededRandom(opts.seed ?? 1);
    const byLabel = new Map<string, number[]>();
    labelOf.forEach((l, i) => {
      if (l === null || l === undefined) return;
      const list = byLabel.get(l) ?? [];
      list.push(i);
      byLabel.set(l, list);
    });
    let singletonCalibration: Float64Array | undefined;
    const models: LabelModel[] = [];
    for (const label of [...byLabel.keys()].sort()) {
      const rows = Int32Array.from(byLabel.get(label)!);
      let m: number;
      let calibration: Float64Array;
      if (rows.length >= 2) {
        m = Math.min(mWanted, rows.length - 1);
        const sample = sampleIndices(rows.length, cap, random);
        calibration = new Float64Array(sample.length);
        for (let s = 0; s < sample.length; s++) {
          const x = rows[sample[s]];
          calibration[s] = meanNearest(index, rows, index.data, x * index.d, m, x, metric);
        }
      } else {
        m = 1;
        singletonCalibration ??= nearestNeighbourSample(index, metric, random);
        calibration = singletonCalibration;
      }
      calibration.sort();
      const median = calibration.length ? calibration[Math.floor((calibration.length - 1) / 2)] : 0;
      models.push({ label, rows, m, calibration, median });
    }
    return new LabelScorer(index, models, metric, opts.alpha ?? DEFAULT_SCORE_ALPHA);
  }

  /** Score vector q (length d); `exclude` = the query's own project row, left out of every label. */
  score(q: Float32Array, exclude = -1): LabelScore {
    const scores: Record<string, number> = {};
    let best: string | null = null;
    let bestScore = -1;
    let bestRatio = Infinity;
    for (const model of this.models) {
      const own = exclude >= 0 && model.rows.includes(exclude);
      let m = model.m;
      if (own && model.rows.length - 1 < m) m = model.rows.length - 1;
      let score: number;
      let ratio: number;
      if (m < 1) {
        // The query is the label's only member: nothing else to compare with.
        score = 0;
        ratio = Infinity;
      } else {
        const stat = meanNearest(this.index, model.rows, q, 0, m, exclude, this.metric);
        score = fractionAtLeast(model.calibration, stat);
        ratio = model.median > 0 ? stat / model.median : stat === 0 ? 0 : Infinity;
      }
      scores[model.label] = score;
      if (score > bestScore || (score === bestScore && ratio < bestRatio)) {
        best = model.label;
        bestScore = score;
        bestRatio = ratio;
      }
    }
    if (best === null) return { label: null, score: 0, scores, outlier: false };
    return { label: best, score: bestScore, scores, outlier: bestScore < this.alpha };
  }
}

/** Mean distance from vector (qData at qo) to its m nearest among `rows`, skipping row `exclude`. */
function meanNearest(index: NeighborIndex, rows: Int32Array, qData: Float32Array, qo: number, m: number, exclude: number, metric: Metric): number {
  const { data, d } = index;
  const heapD = new Float64Array(m);
  const heapI = new Int32Array(m);
  let size = 0;
  for (let r = 0; r < rows.length; r++) {
    const j = rows[r];
    if (j === exclude) continue;
    const o = j * d;
    let dist: number;
    if (metric === 'euclidean') {
      let s = 0;
      for (let t = 0; t < d; t++) {
        const diff = data[o + t] - qData[qo + t];
        s += diff * diff;
      }
      dist = s;
    } else {
      let dot = 0;
      let nq = 0;
      for (let t = 0; t < d; t++) {
        dot += data[o + t] * qData[qo + t];
        nq += qData[qo + t] * qData[qo + t];
      }
      dist = nq > 0 && index.invNorms[j] > 0 ? 1 - (dot * index.invNorms[j]) / Math.sqrt(nq) : 1;
    }
    if (size < m || dist < heapD[0]) size = heapPush(heapD, heapI, 0, m, size, dist, j);
  }
  let sum = 0;
  for (let t = 0; t < size; t++) sum += metric === 'euclidean' ? Math.sqrt(heapD[t]) : Math.max(0, heapD[t]);
  return size > 0 ? sum / size : Infinity;
}

/** Distances of a seeded sample of rows to their nearest other row. */
function nearestNeighbourSample(index: NeighborIndex, metric: Metric, random: () => number): Float64Array {
  if (index.n < 2) return new Float64Array(0);
  const sample = sampleIndices(index.n, SINGLETON_SAMPLE, random);
  const out = new Float64Array(sample.length);
  sample.forEach((i, s) => {
    out[s] = index.queryRow(i, 1, metric)[0].distance;
  });
  return out;
}

/** Fraction of ascending `sorted` that is ≥ x. */
function fractionAtLeast(sorted: Float64Array, x: number): number {
  if (sorted.length === 0) return 0;
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return (sorted.length - lo) / sorted.length;
}
