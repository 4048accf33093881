/** Categorical palettes for clusters and labels (hand-picked, readable on a light background). */
export const PALETTE = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#393b79',
  '#e6550d', '#31a354', '#756bb1', '#636363', '#3182bd', '#fd8d3c', '#74c476', '#9e9ac8', '#ad494a', '#6baed6',
];
export const UNLABELED = '#c8ccd2';

export function paletteColor(i: number): string {
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

/**
 * A discrete plotly colorscale for category values 0..n-1 (point value i + 0.5, cmin 0, cmax n): each category
 * gets a flat band, so per-point colours are one Float32Array and a restyle never builds 70,000 strings.
 */
export function discreteColorscale(colors: string[]): [number, string][] {
  const n = Math.max(colors.length, 1);
  const scale: [number, string][] = [];
  colors.forEach((c, i) => {
    scale.push([i / n, c], [(i + 1) / n, c]);
  });
  if (scale.length === 0) scale.push([0, UNLABELED], [1, UNLABELED]);
  return scale;
}
