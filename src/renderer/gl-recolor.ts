/**
 * Recolour plotly's scattergl map without a restyle.
 *
 * `Plotly.restyle({'marker.color'})` is a `calc` edit: for 70,000 points plotly rebuilds its point index, its
 * colour arrays and its selection state, then redraws — about 0.6 s of script before the (software) WebGL draw,
 * which alone breaks a label edit's 0.3 s budget. Only the colours changed, so this hands the new per-point
 * colours straight to plotly's regl scatter (the same `update({colors})` its own plot step makes) and redraws.
 * It also writes the new values into the trace's data, so that any later full redraw (a restyle, a resize)
 * draws the same colours.
 *
 * It relies on plotly.js 4's scattergl scene (`_fullLayout._plots.xy._scene`); where that is not what it
 * expects it returns false and the caller falls back to Plotly.restyle. test/renderer/ui-e2e.test.ts checks
 * the pixels after an edit, so a plotly upgrade that changes the scene fails a test instead of showing stale
 * colours.
 */

type Rgba = [number, number, number, number];

interface ReglScatter {
  update(...opts: unknown[]): void;
}
interface GlScene {
  scatter2d?: ReglScatter | false;
  select2d?: ReglScatter | false;
  markerOptions?: ({ colors?: unknown[] } | null)[];
  draw?: () => void;
}
interface GlGraphDiv {
  data?: { marker?: Record<string, unknown> }[];
  _fullData?: { marker?: Record<string, unknown> }[];
  _fullLayout?: { _plots?: { xy?: { _scene?: GlScene } } };
}

const rgbaCache = new Map<string, Rgba>();

/** '#rrggbb' → [r, g, b, 1] in 0..1, the form plotly's scattergl hands to regl. */
export function hexToRgba(hex: string): Rgba {
  let c = rgbaCache.get(hex);
  if (!c) {
    const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
    if (!m) throw new Error(`not a #rrggbb colour: ${hex}`);
    c = [parseInt(m[1], 16) / 255, parseInt(m[2], 16) / 255, parseInt(m[3], 16) / 255, 1];
    rgbaCache.set(hex, c);
  }
  return c;
}

/**
 * Give trace 0 of `gd` the colour `palette[category[i]]` for point i, where `marker` holds the same colouring in
 * plotly's terms (values on a discrete colorscale). Returns false, having changed nothing, when the map is not a
 * scattergl plotly knows how to update this way.
 */
export function recolorInPlace(gd: HTMLElement, category: ArrayLike<number>, palette: string[], marker: { color: Float32Array; colorscale: [number, string][]; cmax: number }): boolean {
  const g = gd as unknown as GlGraphDiv;
  const scene = g._fullLayout?._plots?.xy?._scene;
  const opts = scene?.markerOptions?.[0];
  const data = g.data?.[0]?.marker;
  const full = g._fullData?.[0]?.marker;
  if (!scene || !scene.scatter2d || typeof scene.draw !== 'function' || !opts || !Array.isArray(opts.colors) || opts.colors.length !== category.length || !data || !full) return false;
  const swatches = palette.map(hexToRgba);
  const colors: Rgba[] = new Array(category.length);
  for (let i = 0; i < category.length; i++) colors[i] = swatches[category[i]];
  Object.assign(data, marker);
  Object.assign(full, { color: marker.color, colorscale: marker.colorscale, cmax: marker.cmax, _cmax: marker.cmax });
  opts.colors = colors;
  const update = [{ colors }];
  scene.scatter2d.update(...update);
  if (scene.select2d) scene.select2d.update(...update);
  scene.draw();
  return true;
}
