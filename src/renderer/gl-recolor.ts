/**
 * Per-point colours for plotly's scattergl map, without plotly computing them.
 *
 * Plotly turns per-point colour values into colours point by point through its colorscale code and a colour
 * parser (~0.45 s for 70,000 points here), and does so again on every `calc` edit: a restyle of the colours
 * after a label edit, a selection set from the panel. Only the colours change, so the map is plotted with one
 * plain colour and the per-point colours go straight to plotly's regl scatter (the same `update({colors})` its
 * own plot step makes), then it is drawn again. The workspace re-applies them whenever plotly has rebuilt its
 * scene (`plotly_afterplot` with colours that are not ours).
 *
 * It relies on plotly.js 4's scattergl scene (`_fullLayout._plots.xy._scene`); where that is not what it
 * expects `setSceneColors` returns false and the caller falls back to plotly's own colouring (a colorscale
 * restyle). test/renderer/ui-e2e.test.ts checks the pixels after an edit, so a plotly upgrade that changes the
 * scene fails a test instead of showing wrong colours.
 */

export type Rgba = [number, number, number, number];

interface ReglScatter {
  update(...opts: unknown[]): void;
}
interface GlScene {
  scatter2d?: ReglScatter | false;
  select2d?: ReglScatter | false;
  markerOptions?: ({ colors?: unknown } | null)[];
  draw?: () => void;
}
interface GlGraphDiv {
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

/** Colour `palette[category[i]]` for each point, sharing one array per palette entry. */
export function pointColors(category: ArrayLike<number>, palette: string[]): Rgba[] {
  const swatches = palette.map(hexToRgba);
  const out: Rgba[] = new Array(category.length);
  for (let i = 0; i < category.length; i++) out[i] = swatches[category[i]];
  return out;
}

function sceneOf(gd: HTMLElement): GlScene | undefined {
  return (gd as unknown as GlGraphDiv)._fullLayout?._plots?.xy?._scene;
}

/** The per-point colours plotly's scene of trace 0 holds now (to tell whether it rebuilt them). */
export function sceneColors(gd: HTMLElement): unknown {
  return sceneOf(gd)?.markerOptions?.[0]?.colors;
}

/**
 * Give trace 0's points these colours and redraw. Returns false, having changed nothing, when the map is not
 * a scattergl scene this knows how to update.
 */
export function setSceneColors(gd: HTMLElement, colors: Rgba[]): boolean {
  const scene = sceneOf(gd);
  const opts = scene?.markerOptions?.[0];
  if (!scene || !scene.scatter2d || typeof scene.scatter2d.update !== 'function' || typeof scene.draw !== 'function' || !opts) return false;
  // kept in plotly's options too, so its own redraws (zoom, pan, selection) draw the same colours
  opts.colors = colors;
  scene.scatter2d.update({ colors });
  if (scene.select2d) scene.select2d.update({ colors });
  scene.draw();
  return true;
}
