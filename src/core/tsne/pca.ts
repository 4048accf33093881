/**
 * Principal components without dependencies: covariance matrix, then orthogonal (subspace) iteration with a
 * Rayleigh-Ritz step (Jacobi on the small m×m matrix) to order and separate the components.
 */
import { seededRandom, gaussian } from '../random.js';

export interface PcaResult {
  /** Column means (length d). */
  mean: Float64Array;
  /** m×d row-major unit components, by decreasing variance; the largest-magnitude entry of each is positive. */
  components: Float64Array;
  /** Variance along each component (length m). */
  variances: Float64Array;
}

/** Covariance (d×d, row-major, divided by n) of the rows listed in `rows` (all rows when undefined). */
export function covariance(data: Float32Array, n: number, d: number, rows?: Uint32Array): { mean: Float64Array; cov: Float64Array } {
  const m = rows ? rows.length : n;
  const mean = new Float64Array(d);
  for (let r = 0; r < m; r++) {
    const o = (rows ? rows[r] : r) * d;
    for (let t = 0; t < d; t++) mean[t] += data[o + t];
  }
  for (let t = 0; t < d; t++) mean[t] /= Math.max(m, 1);
  const cov = new Float64Array(d * d);
  const x = new Float64Array(d);
  for (let r = 0; r < m; r++) {
    const o = (rows ? rows[r] : r) * d;
    for (let t = 0; t < d; t++) x[t] = data[o + t] - mean[t];
    for (let a = 0; a < d; a++) {
      const xa = x[a];
      if (xa === 0) continue;
      const ra = a * d;
      for (let b = a; b < d; b++) cov[ra + b] += xa * x[b];
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = cov[a * d + b] / Math.max(m, 1);
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  }
  return { mean, cov };
}

/** Eigen-decomposition of a small symmetric matrix (cyclic Jacobi). Returns eigenvalues and eigenvectors as columns of V. */
export function jacobiEigen(a: Float64Array, m: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(a);
  const V = new Float64Array(m * m);
  for (let i = 0; i < m; i++) V[i * m + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < m; p++) for (let q = p + 1; q < m; q++) off += A[p * m + q] * A[p * m + q];
    if (off < 1e-30) break;
    for (let p = 0; p < m; p++) {
      for (let q = p + 1; q < m; q++) {
        const apq = A[p * m + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q * m + q] - A[p * m + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < m; k++) {
          const akp = A[k * m + p];
          const akq = A[k * m + q];
          A[k * m + p] = c * akp - s * akq;
          A[k * m + q] = s * akp + c * akq;
        }
        for (let k = 0; k < m; k++) {
          const apk = A[p * m + k];
          const aqk = A[q * m + k];
          A[p * m + k] = c * apk - s * aqk;
          A[q * m + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < m; k++) {
          const vkp = V[k * m + p];
          const vkq = V[k * m + q];
          V[k * m + p] = c * vkp - s * vkq;
          V[k * m + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(m);
  for (let i = 0; i < m; i++) values[i] = A[i * m + i];
  return { values, vectors: V };
}

/** Orthonormalise the m rows (each length d) of `v` in place by modified Gram-Schmidt. */
function orthonormalRows(v: Float64Array, m: number, d: number): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < i; j++) {
      let dot = 0;
      for (let t = 0; t < d; t++) dot += v[i * d + t] * v[j * d + t];
      for (let t = 0; t < d; t++) v[i * d + t] -= dot * v[j * d + t];
    }
    let norm = 0;
    for (let t = 0; t < d; t++) norm += v[i * d + t] * v[i * d + t];
    norm = Math.sqrt(norm);
    if (norm > 1e-300) for (let t = 0; t < d; t++) v[i * d + t] /= norm;
    else for (let t = 0; t < d; t++) v[i * d + t] = 0;
  }
}

/** Rows i of the result: C·v_i for the p rows v_i of V (p×d), C a symmetric d×d matrix. */
export type SymmetricProduct = (V: Float64Array, p: number) => Float64Array;

/** C·V with plain loops (C d×d row-major). */
export function denseProduct(cov: Float64Array, d: number): SymmetricProduct {
  return (V, p) => {
    const W = new Float64Array(p * d);
    for (let i = 0; i < p; i++) {
      for (let a = 0; a < d; a++) {
        let s = 0;
        const ra = a * d;
        for (let b = 0; b < d; b++) s += cov[ra + b] * V[i * d + b];
        W[i * d + a] = s;
      }
    }
    return W;
  };
}

/**
 * Top-m eigenpairs of a symmetric d×d matrix by subspace iteration (deterministic start). The matrix is given
 * as its product with a block of vectors, so a caller can compute that product elsewhere (e.g. with tfjs).
 */
export function topEigenvectors(product: SymmetricProduct, d: number, m: number, maxIter = 300): { vectors: Float64Array; values: Float64Array } {
  m = Math.min(m, d);
  // A few extra vectors speed up convergence of the last wanted one.
  const p = Math.min(d, m + Math.min(m, 8));
  const rnd = seededRandom(0x5eed);
  let V: Float64Array = new Float64Array(p * d);
  for (let i = 0; i < p * d; i++) V[i] = gaussian(rnd);
  orthonormalRows(V, p, d);
  const ritz = (): { values: Float64Array; vectors: Float64Array } => {
    // H = V C Vᵀ (p×p), eigenvectors of H rotate V into Ritz vectors.
    const CV = product(V, p);
    const H = new Float64Array(p * p);
    for (let i = 0; i < p; i++) {
      for (let j = 0; j < p; j++) {
        let s = 0;
        for (let t = 0; t < d; t++) s += V[i * d + t] * CV[j * d + t];
        H[i * p + j] = s;
      }
    }
    for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) H[i * p + j] = H[j * p + i] = (H[i * p + j] + H[j * p + i]) / 2;
    const eig = jacobiEigen(H, p);
    const order = Array.from({ length: p }, (_, i) => i).sort((x, y) => eig.values[y] - eig.values[x] || x - y);
    const vectors = new Float64Array(p * d);
    const values = new Float64Array(p);
    for (let r = 0; r < p; r++) {
      const c = order[r];
      values[r] = eig.values[c];
      for (let i = 0; i < p; i++) {
        const w = eig.vectors[i * p + c];
        if (w === 0) continue;
        for (let t = 0; t < d; t++) vectors[r * d + t] += w * V[i * d + t];
      }
    }
    return { values, vectors };
  };
  let prev: Float64Array = new Float64Array(m);
  for (let it = 0; it < maxIter; it++) {
    V = product(V, p);
    orthonormalRows(V, p, d);
    if (it % 10 === 9) {
      const r = ritz();
      V = r.vectors;
      let change = 0;
      for (let i = 0; i < m; i++) change = Math.max(change, Math.abs(r.values[i] - prev[i]) / Math.max(Math.abs(r.values[0]), 1e-300));
      prev = r.values.slice(0, m);
      if (change < 1e-10) break;
    }
  }
  const r = ritz();
  const vectors = r.vectors.slice(0, m * d);
  for (let i = 0; i < m; i++) {
    let big = 0;
    for (let t = 0; t < d; t++) if (Math.abs(vectors[i * d + t]) > Math.abs(big)) big = vectors[i * d + t];
    if (big < 0) for (let t = 0; t < d; t++) vectors[i * d + t] = -vectors[i * d + t];
  }
  return { vectors, values: r.values.slice(0, m) };
}

/** The top m principal components of the rows (optionally of a subset `rows` only). */
export function pca(data: Float32Array, n: number, d: number, m: number, rows?: Uint32Array): PcaResult {
  const { mean, cov } = covariance(data, n, d, rows);
  const { vectors, values } = topEigenvectors(denseProduct(cov, d), d, m);
  return { mean, components: vectors, variances: values };
}

/** Project all n rows onto the components: n×m row-major Float64Array. */
export function pcaTransform(data: Float32Array, n: number, d: number, res: PcaResult): Float64Array {
  const m = res.components.length / d;
  const out = new Float64Array(n * m);
  const x = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) x[t] = data[i * d + t] - res.mean[t];
    for (let c = 0; c < m; c++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += x[t] * res.components[c * d + t];
      out[i * m + c] = s;
    }
  }
  return out;
}
