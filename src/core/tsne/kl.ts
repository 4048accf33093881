/** Exact (O(N²)) KL divergence of an embedding, for tests and small data. */
import { jointProbabilities, type CsrMatrix } from './affinities.js';
import { entropyTerm } from './bhtsne.js';
import { exactKnn } from './knn.js';

/** Exact P from a perplexity calibration over all N−1 neighbours (sparse storage, but dense in content). */
export async function exactJointProbabilities(data: Float32Array, n: number, d: number, perplexity: number): Promise<CsrMatrix> {
  const knn = await exactKnn(data, n, d, n - 1);
  return jointProbabilities(knn, perplexity);
}

/** KL(P || Q) with Q the exact Student-t similarities of the n×2 embedding `y` (any numeric array). */
export function exactKl(P: CsrMatrix, y: ArrayLike<number>): number {
  const n = P.n;
  let z = 0;
  for (let i = 0; i < n; i++) {
    const xi = y[2 * i];
    const yi = y[2 * i + 1];
    for (let j = i + 1; j < n; j++) {
      const dx = xi - y[2 * j];
      const dy = yi - y[2 * j + 1];
      z += 2 / (1 + dx * dx + dy * dy);
    }
  }
  let plogw = 0;
  for (let i = 0; i < n; i++) {
    for (let e = P.rowPtr[i]; e < P.rowPtr[i + 1]; e++) {
      const j = P.cols[e];
      const dx = y[2 * i] - y[2 * j];
      const dy = y[2 * i + 1] - y[2 * j + 1];
      plogw -= P.values[e] * Math.log(1 + dx * dx + dy * dy);
    }
  }
  return entropyTerm(P) - plogw + Math.log(z);
}
