/** The attractive part of the t-SNE gradient over the sparse P (self-contained: worker threads run its source). */

/**
 * The CSR arrays of P as the attraction reads them (may live in SharedArrayBuffers). The optimiser keeps the values
 * in single precision: the attraction streams all of P every iteration, and 8 instead of 12 bytes per entry is
 * measurably faster, while a relative error of 6e-8 in p_ij is far below the Barnes-Hut error.
 */
export interface SharedCsr {
  rowPtr: Int32Array;
  cols: Int32Array;
  values: Float64Array | Float32Array;
}

/**
 * attr[i] = Σ_j p_ij w_ij (y_i − y_j) for rows [i0, i1), w_ij = 1/(1 + |y_i − y_j|²); when plogw is given,
 * plogw[i] = Σ_j p_ij log w_ij. No closures, no imports: worker threads run its source text.
 */
export function attractionRange(
  P: SharedCsr,
  y: Float64Array,
  attr: Float64Array,
  plogw: Float64Array | null,
  i0: number,
  i1: number,
): void {
  const rowPtr = P.rowPtr;
  const cols = P.cols;
  const values = P.values;
  for (let i = i0; i < i1; i++) {
    const xi = y[2 * i];
    const yi = y[2 * i + 1];
    let fx = 0;
    let fy = 0;
    const e0 = rowPtr[i];
    const e1 = rowPtr[i + 1];
    for (let e = e0; e < e1; e++) {
      const j = cols[e];
      const dx = xi - y[2 * j];
      const dy = yi - y[2 * j + 1];
      const pw = values[e] / (1 + dx * dx + dy * dy);
      fx += pw * dx;
      fy += pw * dy;
    }
    attr[2 * i] = fx;
    attr[2 * i + 1] = fy;
    if (plogw !== null) {
      let lw = 0;
      for (let e = e0; e < e1; e++) {
        const j = cols[e];
        const dx = xi - y[2 * j];
        const dy = yi - y[2 * j + 1];
        lw -= values[e] * Math.log(1 + dx * dx + dy * dy);
      }
      plogw[i] = lw;
    }
  }
}

/** Σ of plogw[0..n) in row order. */
export function sumRows(a: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i];
  return s;
}
