/**
 * Histograms of oriented gradients (Dalal & Triggs 2005): a fixed, training-free description of an image's local
 * shape — which way its edges run, cell by cell, normalised over overlapping blocks so that contrast does not
 * matter. Clusterlens adds it to the autoencoder's codes for fine clusters (README, "Defaults, and why"): the codes
 * keep an image's overall form, the histograms its edges and details, and together their nearest neighbours share
 * a class more often than either's alone (Fashion-MNIST 10-NN vote 86.8 % against 82.9 % for the codes).
 *
 * Written here rather than taken from npm: the HOG packages there are unmaintained (last published years ago),
 * work on canvases or one image at a time, and none handles batches of typed arrays.
 *
 * The layout follows the paper's and scikit-image's defaults: centred [-1, 0, 1] gradients (zero on the border
 * row and column); for colour, the channel with the largest gradient at each pixel; unsigned orientations
 * (0–180°) in 9 bins, each pixel's magnitude shared between its two nearest bins; square cells; blocks of 2×2
 * cells moved one cell at a time, each L2-Hys normalised (L2, clipped at 0.2, L2 again).
 */

export interface HogOptions {
  /** Orientation bins over 0–180°. Default 9. */
  bins?: number;
  /** Cell side in pixels. Default: the image side / 7, rounded down (4 px at 28 and 32 px). */
  cell?: number;
}

export interface HogLayout {
  bins: number;
  cell: number;
  /** Cells per side (the image's remainder past the last whole cell is ignored). */
  cells: number;
  /** Blocks per side (cells − 1). */
  blocks: number;
  /** Length of one image's descriptor: blocks² × 4 × bins. */
  dims: number;
}

const BLOCK = 2;
const CLIP = 0.2;
const EPS = 1e-5;

export function hogLayout(size: number, opts: HogOptions = {}): HogLayout {
  const bins = opts.bins ?? 9;
  const cell = opts.cell ?? Math.max(2, Math.floor(size / 7));
  if (!Number.isInteger(bins) || bins < 2) throw new RangeError(`HOG bins must be an integer ≥ 2 (got ${bins})`);
  if (!Number.isInteger(cell) || cell < 1) throw new RangeError(`HOG cell size must be a positive integer (got ${cell})`);
  const cells = Math.floor(size / cell);
  if (cells < BLOCK) throw new RangeError(`images of ${size} px are too small for HOG cells of ${cell} px (need at least ${BLOCK * cell} px)`);
  const blocks = cells - BLOCK + 1;
  return { bins, cell, cells, blocks, dims: blocks * blocks * BLOCK * BLOCK * bins };
}

/**
 * Descriptors of images `from..to` of `pixels` (uint8, NHWC, size×size×channels each), written row by row into
 * `out` (at least (to − from) × layout.dims floats). Returns `out`.
 */
export function hogBatch(
  pixels: Uint8Array,
  size: number,
  channels: number,
  from: number,
  to: number,
  layout: HogLayout,
  out: Float32Array = new Float32Array((to - from) * layout.dims),
): Float32Array {
  const { bins, cell, cells, blocks, dims } = layout;
  const per = size * size * channels;
  const hist = new Float32Array(cells * cells * bins);
  const binWidth = Math.PI / bins;
  const span = cells * cell; // pixels covered by whole cells
  for (let img = from; img < to; img++) {
    const base = img * per;
    hist.fill(0);
    for (let y = 0; y < span; y++) {
      const cy = (y / cell) | 0;
      for (let x = 0; x < span; x++) {
        // the channel with the largest gradient magnitude (one channel for grayscale); a derivative across the
        // image's border is 0
        const inX = x > 0 && x < size - 1;
        const inY = y > 0 && y < size - 1;
        let gx = 0;
        let gy = 0;
        let best = 0;
        for (let c = 0; c < channels; c++) {
          const o = base + (y * size + x) * channels + c;
          const dx = inX ? pixels[o + channels] - pixels[o - channels] : 0;
          const dy = inY ? pixels[o + size * channels] - pixels[o - size * channels] : 0;
          const m2 = dx * dx + dy * dy;
          if (m2 > best) {
            best = m2;
            gx = dx;
            gy = dy;
          }
        }
        if (gx === 0 && gy === 0) continue;
        const mag = Math.sqrt(gx * gx + gy * gy) / 255;
        let angle = Math.atan2(gy, gx);
        if (angle < 0) angle += Math.PI;
        if (angle >= Math.PI) angle -= Math.PI;
        // share the magnitude between the two nearest bin centres ((b + 0.5) × binWidth), wrapping at 180°
        const pos = angle / binWidth - 0.5;
        const lo = Math.floor(pos);
        const w = pos - lo;
        const b0 = (lo + bins) % bins;
        const b1 = (lo + 1) % bins;
        const h = (cy * cells + ((x / cell) | 0)) * bins;
        hist[h + b0] += mag * (1 - w);
        hist[h + b1] += mag * w;
      }
    }
    // blocks of 2×2 cells, L2-Hys
    let o = (img - from) * dims;
    const blockLen = BLOCK * BLOCK * bins;
    for (let by = 0; by < blocks; by++) {
      for (let bx = 0; bx < blocks; bx++) {
        const start = o;
        for (let dy = 0; dy < BLOCK; dy++) {
          for (let dx = 0; dx < BLOCK; dx++) {
            const h = ((by + dy) * cells + bx + dx) * bins;
            for (let b = 0; b < bins; b++) out[o++] = hist[h + b];
          }
        }
        normaliseL2Hys(out, start, blockLen);
      }
    }
  }
  return out;
}

function normaliseL2Hys(v: Float32Array, start: number, len: number): void {
  let s = 0;
  for (let i = start; i < start + len; i++) s += v[i] * v[i];
  let inv = 1 / Math.sqrt(s + EPS * EPS);
  s = 0;
  for (let i = start; i < start + len; i++) {
    const x = Math.min(v[i] * inv, CLIP);
    v[i] = x;
    s += x * x;
  }
  inv = 1 / Math.sqrt(s + EPS * EPS);
  for (let i = start; i < start + len; i++) v[i] *= inv;
}
