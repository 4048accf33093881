/**
 * The workspace: the map (plotly scattergl), the cluster / labels / selection panels, the detail view, the
 * status bar, undo/redo, export and keyboard shortcuts.
 *
 * Per-point data lives in typed arrays (coords, cluster ids, label indices). A label edit updates the label
 * indices locally and restyles `marker.color` only (one Float32Array on a discrete colorscale), so an edit on
 * 70,000 points never re-plots the map. The points are fetched again only when the backend's label counts
 * disagree with ours (undo/redo, edits from another window).
 */
import type { PlotHoverEvent, PlotMouseEvent, PlotSelectionEvent, PlotlyHTMLElement } from 'plotly.js';
import type { ClusterlensApi, EditResult, Points, ProjectState } from '../shared/api.js';
import { MAX_IMAGE_BYTES } from '../shared/limits.js';
import { UNLABELED, discreteColorscale, paletteColor } from './colors.js';
import { clear, errorMessage, fmtInt, h, toast } from './dom.js';
import { Gallery } from './gallery.js';
import { pointColors, sceneColors, setSceneColors, type Rgba } from './gl-recolor.js';
import type { Plotly } from './globals.js';

type ColorMode = 'cluster' | 'label' | 'outlier';
type Tab = 'clusters' | 'labels' | 'selection' | 'outliers';

export interface WorkspaceHost {
  close(): void;
}

export class Workspace {
  readonly el: HTMLElement;
  private state!: ProjectState;
  // per-point data (project order)
  private paths: string[] = [];
  private xs = new Float32Array(0);
  private ys = new Float32Array(0);
  private cluster = new Int32Array(0);
  private labelIdx = new Int32Array(0); // -1 = unlabeled
  private errors = new Float32Array(0);
  private outliers = new Float32Array(0);
  private pathIndex = new Map<string, number>();
  private members: Int32Array[] = []; // per cluster, its rows
  // label names ↔ indices, stable for the session so colours do not jump
  private labelNames: string[] = [];
  private labelId = new Map<string, number>();
  private colorMode: ColorMode = 'cluster';
  private selection: number[] = [];
  /** Latent distance of each selected image to the query, when the selection came from a similarity search. */
  private selDistances = new Map<number, number>();
  private selectionTitle = '';
  private tab: Tab = 'clusters';
  private busy = false;

  private readonly mapEl: HTMLElement;
  private readonly hoverImg: HTMLImageElement;
  private readonly status: HTMLElement;
  private readonly projectName: HTMLElement;
  private readonly tabs: Record<Tab, { button: HTMLButtonElement; panel: HTMLElement }>;
  private readonly clusterList: HTMLElement;
  private readonly labelList: HTMLElement;
  private readonly selCount: HTMLElement;
  private readonly selLabel: HTMLInputElement;
  private readonly gallery: Gallery;
  private readonly outlierGallery: Gallery;
  private readonly outlierHead: HTMLElement;
  private outlierRows: number[] = [];
  private outlierScores = new Map<number, number>();
  /** How many of `outlierRows` (the first ones) are flagged. */
  private flaggedCount = 0;
  private outliersLoaded = false;
  private readonly queryCard: HTMLElement;
  private readonly mergeBar: HTMLElement;
  private readonly mergePicked = new Set<number>();
  private readonly fileInput: HTMLInputElement;
  private readonly labelOptions: HTMLDataListElement;
  private readonly undoBtn: HTMLButtonElement;
  private readonly redoBtn: HTMLButtonElement;
  private readonly colorBtns: Record<ColorMode, HTMLButtonElement>;
  private readonly dragBtns: Record<'lasso' | 'select' | 'pan', HTMLButtonElement>;
  private readonly detail: HTMLElement;
  private readonly help: HTMLElement;
  private plotted = false;
  /** The map is WebGL and its colours go straight to the scene (gl-recolor.ts); the colours given last. */
  private glColors = false;
  private sceneColors: Rgba[] | null = null;
  private readonly keyHandler = (ev: KeyboardEvent) => this.onKey(ev);

  constructor(
    private readonly api: ClusterlensApi,
    private readonly plotly: Plotly,
    private readonly host: WorkspaceHost,
  ) {
    this.mapEl = h('div.map#map');
    this.hoverImg = h('img.hover-thumb', { alt: '' });
    this.status = h('footer.statusbar#status');
    this.projectName = h('span.project-name');
    this.labelOptions = h('datalist#label-options');

    const btn = (id: string, text: string, title: string, onclick: () => void) => h(`button#${id}`, { type: 'button', title, onclick }, text) as HTMLButtonElement;
    this.colorBtns = {
      cluster: btn('color-cluster', 'Clusters', 'Colour by cluster (C)', () => this.setColorMode('cluster')),
      label: btn('color-label', 'Labels', 'Colour by label (C)', () => this.setColorMode('label')),
      outlier: btn('color-outlier', 'Outliers', 'Colour by outlier score: red = unlike the rest (C)', () => this.setColorMode('outlier')),
    };
    this.dragBtns = {
      lasso: btn('tool-lasso', 'Lasso', 'Lasso select (S)', () => this.setDragmode('lasso')),
      select: btn('tool-box', 'Box', 'Box select (B)', () => this.setDragmode('select')),
      pan: btn('tool-pan', 'Pan', 'Pan / zoom (P)', () => this.setDragmode('pan')),
    };
    this.undoBtn = btn('undo', '↶ Undo', 'Undo (Ctrl+Z)', () => void this.edit(() => this.api.invoke('labels.undo', {}), 'refetch'));
    this.redoBtn = btn('redo', '↷ Redo', 'Redo (Ctrl+Shift+Z)', () => void this.edit(() => this.api.invoke('labels.redo', {}), 'refetch'));
    const toolbar = h(
      'header.toolbar',
      {},
      h('button.ghost#close-project', { type: 'button', title: 'Back to the start screen', onclick: () => this.host.close() }, '←'),
      this.projectName,
      h('div.group', { role: 'group', 'aria-label': 'Colour by' }, h('span.group-label', {}, 'Colour'), this.colorBtns.cluster, this.colorBtns.label, this.colorBtns.outlier),
      h('div.group', { role: 'group', 'aria-label': 'Map tool' }, this.dragBtns.lasso, this.dragBtns.select, this.dragBtns.pan),
      h('div.spacer'),
      this.undoBtn,
      this.redoBtn,
      btn('search-image', 'Search by image…', 'Find the images most like a picture from outside the project (or drop one on the window) (F)', () => this.fileInput.click()),
      btn('export', 'Export CSV', 'Export the labeled CSV (E)', () => void this.exportCsv()),
      btn('help-btn', '?', 'Keyboard shortcuts (?)', () => this.toggleHelp()),
    );

    // panels
    this.fileInput = h('input.hidden#search-file', { type: 'file', accept: 'image/*' }) as HTMLInputElement;
    this.fileInput.addEventListener('change', () => {
      const f = this.fileInput.files?.[0];
      this.fileInput.value = '';
      if (f) void this.searchByFile(f);
    });
    this.clusterList = h('div.cluster-list');
    this.mergeBar = h('div.merge-bar.hidden#merge-bar');
    this.queryCard = h('div.query-card.hidden#query-card');
    this.outlierHead = h('div.sel-head#outlier-head', {}, 'Outliers');
    this.outlierGallery = new Gallery({
      cell: 86,
      thumbUrl: (i) => this.api.imageUrl(this.paths[i], true),
      caption: (i) => `outlier score ${(this.outlierScores.get(i) ?? this.outliers[i]).toFixed(2)} — ${this.paths[i]}${this.labelOf(i) ? ` — ${this.labelOf(i)}` : ''}`,
      stripe: (i) => (this.labelIdx[i] >= 0 ? this.labelColor(this.labelIdx[i]) : null),
      onOpen: (i) => this.openDetail(i),
    });
    this.labelList = h('div.label-list');
    this.selCount = h('span.sel-count#sel-count', {}, 'No selection');
    this.selLabel = h('input#sel-label', { type: 'text', placeholder: 'Label…', list: 'label-options', 'aria-label': 'Label for the selection' });
    const selForm = h(
      'form.sel-form',
      {
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          void this.labelSelection();
        },
      },
      this.selLabel,
      h('button.primary#label-selection', { type: 'submit', title: 'Label every image of the selection (L)' }, 'Label selection'),
      h('button.secondary#clear-selection', { type: 'button', title: 'Clear the selection (Esc)', onclick: () => this.setSelection([], '') }, 'Clear'),
    );
    this.gallery = new Gallery({
      cell: 86,
      thumbUrl: (i) => this.api.imageUrl(this.paths[i], true),
      caption: (i) => `${this.selDistances.has(i) ? `distance ${this.selDistances.get(i)!.toFixed(3)} — ` : ''}${this.paths[i]}${this.labelOf(i) ? ` — ${this.labelOf(i)}` : ''}`,
      stripe: (i) => (this.labelIdx[i] >= 0 ? this.labelColor(this.labelIdx[i]) : null),
      onOpen: (i) => this.openDetail(i),
      onRemove: (i) => this.removeFromSelection(i),
    });
    const tabButton = (t: Tab, text: string) => h(`button.tab#tab-${t}`, { type: 'button', role: 'tab', onclick: () => this.setTab(t) }, text) as HTMLButtonElement;
    this.tabs = {
      clusters: { button: tabButton('clusters', 'Clusters'), panel: h('div.panel#panel-clusters', { role: 'tabpanel' }, this.mergeBar, this.clusterList) },
      labels: { button: tabButton('labels', 'Labels'), panel: h('div.panel#panel-labels', { role: 'tabpanel' }, this.labelList) },
      selection: {
        button: tabButton('selection', 'Selection'),
        panel: h('div.panel.selection-panel#panel-selection', { role: 'tabpanel' }, this.queryCard, h('div.sel-head', {}, this.selCount), selForm, this.gallery.el),
      },
      outliers: {
        button: tabButton('outliers', 'Outliers'),
        panel: h(
          'div.panel.selection-panel#panel-outliers',
          { role: 'tabpanel' },
          this.outlierHead,
          h(
            'div.row',
            {},
            h('button.secondary#select-outliers', { type: 'button', title: 'Put the flagged images in the selection, to label or inspect them', onclick: () => this.selectOutliers() }, 'Select the flagged'),
            h('button.secondary#color-by-outlier', { type: 'button', title: 'Colour the map by outlier score', onclick: () => this.setColorMode('outlier') }, 'Show on the map'),
          ),
          this.outlierGallery.el,
        ),
      },
    };
    const side = h(
      'aside.sidebar',
      {},
      h('nav.tabs', { role: 'tablist' }, this.tabs.clusters.button, this.tabs.labels.button, this.tabs.selection.button, this.tabs.outliers.button),
      this.tabs.clusters.panel,
      this.tabs.labels.panel,
      this.tabs.selection.panel,
      this.tabs.outliers.panel,
    );
    this.detail = h('div.overlay.hidden#detail', { onclick: (ev: Event) => ev.target === this.detail && this.closeOverlays() });
    this.help = h('div.overlay.hidden#help', { onclick: (ev: Event) => ev.target === this.help && this.closeOverlays() }, helpCard());
    this.el = h('section.workspace', {}, toolbar, h('div.main', {}, h('div.map-wrap', {}, this.mapEl), side), this.status, this.detail, this.help, this.hoverImg, this.labelOptions, this.fileInput);
    this.el.addEventListener('dragover', (ev) => {
      if (!ev.dataTransfer?.types.includes('Files')) return;
      ev.preventDefault();
      ev.dataTransfer.dropEffect = 'copy';
      this.el.classList.add('dropping');
    });
    this.el.addEventListener('dragleave', (ev) => {
      if (ev.target === this.el || !this.el.contains(ev.relatedTarget as Node | null)) this.el.classList.remove('dropping');
    });
    this.el.addEventListener('drop', (ev) => {
      this.el.classList.remove('dropping');
      const f = ev.dataTransfer?.files?.[0];
      if (!f) return;
      ev.preventDefault();
      void this.searchByFile(f);
    });
    this.setTab('clusters');
  }

  /** Show a project: fetch its points and draw the map. */
  async load(state: ProjectState): Promise<void> {
    this.state = state;
    this.projectName.textContent = baseName(state.dir);
    this.projectName.title = `${state.dir}\nimages from ${state.datasetRoot}`;
    document.addEventListener('keydown', this.keyHandler);
    const points = await this.api.invoke('project.points', {});
    this.setPoints(points);
    this.selection = [];
    const view = loadView(state.dir);
    if (view.color) this.colorMode = view.color;
    await this.plot();
    this.renderAll();
    if (view.tab) this.setTab(view.tab);
  }

  /** The colouring and panel of this project, so that it re-opens as it was left. */
  private saveView(): void {
    if (!this.state) return;
    try {
      localStorage.setItem(VIEW_KEY + this.state.dir, JSON.stringify({ color: this.colorMode, tab: this.tab }));
    } catch {
      // storage full or disabled: the view is a convenience
    }
  }

  dispose(): void {
    document.removeEventListener('keydown', this.keyHandler);
    if (this.plotted) this.plotly.purge(this.mapEl);
    this.plotted = false;
  }

  /** A `labels.changed` event (from this or another window). */
  onLabelsChanged(state: ProjectState): void {
    if (this.busy) return; // our own edit: handled when it returns
    this.state = state;
    if (!this.countsMatch()) void this.refetchPoints();
    else this.renderMeta();
  }

  /** A `clusters.changed` event: clusters were merged or a merge undone (here or in another window). */
  onClustersChanged(state: ProjectState): void {
    if (this.busy) return;
    this.state = state;
    void this.refetchPoints();
  }

  // ---------------------------------------------------------------- data

  private setPoints(p: Points): void {
    const n = p.paths.length;
    this.paths = p.paths;
    this.xs = Float32Array.from(p.x);
    this.ys = Float32Array.from(p.y);
    this.cluster = Int32Array.from(p.cluster);
    this.errors = Float32Array.from(p.reconstructionError);
    this.outliers = Float32Array.from(p.outlierScore);
    this.pathIndex = new Map();
    for (let i = 0; i < n; i++) this.pathIndex.set(p.paths[i], i);
    this.labelIdx = new Int32Array(n);
    for (let i = 0; i < n; i++) this.labelIdx[i] = p.label[i] ? this.labelIndex(p.label[i]) : -1;
    let k = this.state.clusters?.k ?? 0;
    for (let i = 0; i < n; i++) if (this.cluster[i] + 1 > k) k = this.cluster[i] + 1;
    const sizes = new Int32Array(k);
    for (let i = 0; i < n; i++) if (this.cluster[i] >= 0) sizes[this.cluster[i]]++;
    this.members = Array.from(sizes, (s) => new Int32Array(s));
    const fill = new Int32Array(k);
    for (let i = 0; i < n; i++) {
      const c = this.cluster[i];
      if (c >= 0) this.members[c][fill[c]++] = i;
    }
  }

  private labelIndex(name: string): number {
    let id = this.labelId.get(name);
    if (id === undefined) {
      id = this.labelNames.length;
      this.labelNames.push(name);
      this.labelId.set(name, id);
    }
    return id;
  }

  private labelOf(i: number): string {
    return this.labelIdx[i] >= 0 ? this.labelNames[this.labelIdx[i]] : '';
  }

  private labelColor(id: number): string {
    return paletteColor(id);
  }

  private localCounts(): Map<string, number> {
    const counts = new Int32Array(this.labelNames.length);
    for (let i = 0; i < this.labelIdx.length; i++) if (this.labelIdx[i] >= 0) counts[this.labelIdx[i]]++;
    const m = new Map<string, number>();
    counts.forEach((c, id) => c > 0 && m.set(this.labelNames[id], c));
    return m;
  }

  private countsMatch(): boolean {
    const local = this.localCounts();
    if (local.size !== this.state.labels.filter((l) => l.count > 0).length) return false;
    return this.state.labels.every((l) => l.count === 0 || local.get(l.label) === l.count);
  }

  private async refetchPoints(): Promise<void> {
    const points = await this.api.invoke('project.points', {});
    const before = this.paths;
    const clustersBefore = this.cluster;
    const xsBefore = this.xs;
    this.setPoints(points);
    if (before.length !== this.paths.length) {
      this.selection = [];
      await this.plot();
    } else this.recolor(sameArray(clustersBefore, this.cluster) && sameArray(xsBefore, this.xs));
    this.renderAll();
  }

  // ---------------------------------------------------------------- map

  /** The current colouring as a category per point and a colour per category. */
  private colorCategories(): { category: Uint8Array | Uint16Array | Int32Array; palette: string[] } {
    const n = this.paths.length;
    if (this.colorMode === 'cluster') {
      const k = Math.max(this.members.length, 1);
      const category = new Int32Array(n);
      for (let i = 0; i < n; i++) category[i] = Math.max(0, this.cluster[i]);
      return { category, palette: Array.from({ length: k }, (_, c) => paletteColor(c)) };
    }
    if (this.colorMode === 'outlier') {
      // the robust z-score of the outlier ranking in 32 steps: grey up to a third of the top, then towards red;
      // the top is the 99.5th percentile, so that a few extreme points do not wash out the rest
      const finite = Array.from(this.outliers).filter(Number.isFinite).sort((a, b) => a - b);
      const top = Math.max(finite[Math.floor(0.995 * (finite.length - 1))] ?? 1, 1e-6);
      const steps = OUTLIER_STEPS.length;
      const category = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = Number.isFinite(this.outliers[i]) ? this.outliers[i] / top : 0;
        category[i] = Math.min(steps - 1, Math.max(0, Math.floor(v * steps)));
      }
      return { category, palette: OUTLIER_STEPS };
    }
    const category = new Uint16Array(n);
    for (let i = 0; i < n; i++) category[i] = this.labelIdx[i] + 1;
    return { category, palette: [UNLABELED, ...this.labelNames.map((_, id) => this.labelColor(id))] };
  }

  /** Plotly's own way to colour the points (the SVG map, or a scattergl scene gl-recolor.ts cannot update). */
  private plotlyColors(): { color: Float32Array; colorscale: [number, string][]; cmin: number; cmax: number } {
    const { category, palette } = this.colorCategories();
    const color = new Float32Array(category.length);
    for (let i = 0; i < category.length; i++) color[i] = category[i] + 0.5;
    return { color, colorscale: discreteColorscale(palette), cmin: 0, cmax: palette.length };
  }

  private async plot(retry = true): Promise<void> {
    const n = this.paths.length;
    const size = n > 30000 ? 3 : n > 5000 ? 4 : 6;
    const gl = webglWorks !== false;
    this.glColors = gl;
    // WebGL: one plain colour here, the per-point colours go to the scene after plotting (see gl-recolor.ts)
    const colors = gl ? { color: UNLABELED } : this.plotlyColors();
    const trace = {
      type: gl ? 'scattergl' : 'scatter',
      mode: 'markers',
      x: this.xs,
      y: this.ys,
      hoverinfo: 'none',
      marker: { size, ...colors, showscale: false, line: { width: 0 } },
      selected: { marker: { opacity: 1 } },
      unselected: { marker: { opacity: 0.18 } },
    };
    const layout = {
      margin: { l: 0, r: 0, t: 0, b: 0 },
      dragmode: 'lasso',
      hovermode: 'closest',
      showlegend: false,
      xaxis: { visible: false, zeroline: false },
      yaxis: { visible: false, zeroline: false, scaleanchor: 'x' },
      plot_bgcolor: '#ffffff',
      paper_bgcolor: '#ffffff',
      uirevision: 'map',
    };
    // plotly draws WebGL at 2× the CSS pixels by default; on a 1× screen that is 4× the fill work for nothing
    // (software WebGL spends most of an edit's time there). Use the screen's own ratio.
    const config = { plotGlPixelRatio: Math.min(2, Math.max(1, window.devicePixelRatio || 1)), displaylogo: false, responsive: true, scrollZoom: true, doubleClick: 'reset', modeBarButtonsToRemove: ['toImage', 'select2d', 'lasso2d', 'pan2d', 'zoom2d', 'autoScale2d'] };
    if (this.plotted) this.plotly.purge(this.mapEl);
    // plotly's types do not know that typed arrays are fine as data
    await this.plotly.newPlot(this.mapEl, [trace as never], layout as never, config as never);
    this.plotted = true;
    if (gl && this.mapEl.querySelector('.no-webgl')) {
      // plotly could not start WebGL. Seen in headless Chromium on the first plot of a page only: try once more,
      // then draw the map with SVG (correct, but slow for large projects).
      if (retry) return this.plot(false);
      webglWorks = false;
      toast('WebGL is not available: the map falls back to SVG, which is slow for large projects.', 'error');
      return this.plot();
    }
    webglWorks = true;
    const gd = this.mapEl as PlotlyHTMLElement;
    gd.on('plotly_hover', (ev: PlotHoverEvent) => this.onHover(ev));
    gd.on('plotly_unhover', () => this.hoverImg.classList.remove('show'));
    gd.on('plotly_click', (ev: PlotMouseEvent) => {
      const p = ev.points?.[0];
      if (p) this.openDetail(p.pointIndex);
    });
    gd.on('plotly_selected', (ev: PlotSelectionEvent) => this.onSelected(ev));
    // plotly rebuilt its scene (a restyle, a resize): our colours are gone from it, so give them again
    gd.on('plotly_afterplot', () => {
      if (this.glColors && this.sceneColors && sceneColors(this.mapEl) !== this.sceneColors) this.applyColors();
    });
    this.applyColors();
    gd.on('plotly_deselect', () => this.setSelection([], ''));
    this.setDragmode('lasso', false);
    this.mapEl.dataset.ready = String(n);
  }

  /**
   * Show the current colouring. `afterEdit`: only labels changed (points and clusters did not), so nothing is
   * drawn unless the map is coloured by label.
   */
  private recolor(afterEdit = false): void {
    if (!this.plotted) return;
    if (afterEdit && this.colorMode !== 'label') return;
    this.applyColors();
  }

  private applyColors(): void {
    if (this.glColors) {
      const { category, palette } = this.colorCategories();
      const colors = pointColors(category, palette);
      if (setSceneColors(this.mapEl, colors)) {
        this.sceneColors = colors;
        return;
      }
      // plotly's scene is not what gl-recolor.ts expects: colour the plotly way from now on
      this.glColors = false;
      this.sceneColors = null;
    }
    const c = this.plotlyColors();
    void this.plotly.restyle(this.mapEl, { 'marker.color': [c.color], 'marker.colorscale': [c.colorscale], 'marker.cmin': c.cmin, 'marker.cmax': c.cmax } as never, [0]);
  }

  private onHover(ev: PlotHoverEvent): void {
    const p = ev.points?.[0];
    if (!p || !ev.event) return;
    const i = p.pointIndex;
    this.hoverImg.src = this.api.imageUrl(this.paths[i], true);
    this.hoverImg.title = this.paths[i];
    const x = Math.min(ev.event.clientX + 14, window.innerWidth - 110);
    const y = Math.min(ev.event.clientY + 14, window.innerHeight - 110);
    this.hoverImg.style.transform = `translate(${x}px, ${y}px)`;
    this.hoverImg.classList.add('show');
  }

  private onSelected(ev: PlotSelectionEvent | undefined): void {
    if (!ev || !ev.points) return;
    const rows: number[] = [];
    for (const p of ev.points) if (p.curveNumber === 0) rows.push(p.pointIndex);
    rows.sort((a, b) => a - b);
    this.setSelection(rows, ev.lassoPoints ? 'lasso selection' : 'box selection', false);
  }

  private setDragmode(mode: 'lasso' | 'select' | 'pan', relayout = true): void {
    for (const [m, b] of Object.entries(this.dragBtns)) b.classList.toggle('active', m === mode);
    if (relayout && this.plotted) void this.plotly.relayout(this.mapEl, { dragmode: mode });
  }

  private setColorMode(mode: ColorMode): void {
    const changed = mode !== this.colorMode;
    this.colorMode = mode;
    this.saveView();
    this.renderColorButtons();
    if (changed) this.recolor();
  }

  private renderColorButtons(): void {
    for (const [m, b] of Object.entries(this.colorBtns)) b.classList.toggle('active', m === this.colorMode);
    this.mapEl.dataset.color = this.colorMode;
  }

  // ---------------------------------------------------------------- selection

  /** `fromMap`: the selection came from the map itself, so plotly already shows it. */
  private setSelection(rows: number[], title: string, updateMap = true, distances?: Map<number, number>): void {
    this.selection = rows;
    this.selDistances = distances ?? new Map();
    this.selectionTitle = title;
    if (updateMap && this.plotted) {
      if (rows.length === 0) void this.plotly.update(this.mapEl, { selectedpoints: [null] } as never, { selections: [] } as never, [0]);
      else void this.plotly.restyle(this.mapEl, { selectedpoints: [rows] } as never, [0]);
    }
    this.gallery.setItems(rows);
    this.renderSelectionHead();
    if (rows.length > 0) this.setTab('selection');
    this.renderStatus();
  }

  private removeFromSelection(row: number): void {
    const rows = this.selection.filter((r) => r !== row);
    this.selection = rows;
    if (this.plotted) void this.plotly.restyle(this.mapEl, { selectedpoints: [rows.length ? rows : null] } as never, [0]);
    this.gallery.setItems(rows, true);
    this.renderSelectionHead();
    this.renderStatus();
  }

  private renderSelectionHead(): void {
    const n = this.selection.length;
    this.selCount.textContent = n === 0 ? 'No selection — lasso or box-select points on the map' : `${fmtInt(n)} selected${this.selectionTitle ? ` (${this.selectionTitle})` : ''}`;
    this.tabs.selection.button.textContent = n ? `Selection (${fmtInt(n)})` : 'Selection';
  }

  // ---------------------------------------------------------------- edits

  /**
   * Run a label edit. `run` sends it; `apply` updates the local label indices the way the backend will, or
   * 'refetch' reloads the points afterwards (undo/redo). A local edit is drawn while the request is in flight
   * (the backend's journal write and the map's redraw overlap) and rolled back if the backend refuses it; the
   * status bar and panels change only once the backend has confirmed, and the result's counts are checked
   * against ours.
   */
  private async edit(run: () => Promise<EditResult | { description: string; count: number; state: ProjectState }>, apply: (() => void) | 'refetch'): Promise<boolean> {
    let before: Int32Array<ArrayBuffer> | null = null;
    const rollback = () => {
      if (!before) return;
      this.labelIdx = before;
      this.recolor(true);
    };
    return this.exclusive(async () => {
      const pending = run();
      if (apply !== 'refetch') {
        before = this.labelIdx.slice();
        apply();
        this.recolor(true);
      }
      const res = await pending;
      this.state = res.state;
      if (apply === 'refetch') {
        if (res.count > 0 || !this.countsMatch()) await this.refetchPoints();
      } else if (!this.countsMatch()) await this.refetchPoints();
      this.renderAfterEdit(res.description);
    }, rollback);
  }

  /**
   * One edit at a time, with the busy cursor. A failure runs `rollback`, then shows its message. Resolves false
   * when another edit was running or this one failed.
   */
  private async exclusive(run: () => Promise<void>, rollback?: () => void): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    document.body.classList.add('busy');
    try {
      await run();
      return true;
    } catch (err) {
      rollback?.();
      toast(errorMessage(err), 'error');
      return false;
    } finally {
      this.busy = false;
      document.body.classList.remove('busy');
    }
  }

  private async labelSelection(): Promise<void> {
    const label = this.selLabel.value.trim();
    if (!label) {
      this.selLabel.focus();
      toast('Type a label first');
      return;
    }
    if (this.selection.length === 0) {
      toast('Select some points on the map first (lasso or box)');
      return;
    }
    const rows = this.selection.slice();
    const ok = await this.edit(
      () => this.api.invoke('labels.assign', { paths: rows.map((r) => this.paths[r]), label, source: 'selection' }),
      () => {
        const id = this.labelIndex(label);
        for (const r of rows) this.labelIdx[r] = id;
      },
    );
    if (ok) this.gallery.refresh();
  }

  private async labelCluster(c: number, label: string): Promise<void> {
    if (!label) {
      toast('Type a label for the cluster first');
      return;
    }
    await this.edit(
      () => this.api.invoke('labels.cluster', { cluster: c, label }),
      () => {
        const id = this.labelIndex(label);
        for (const r of this.members[c] ?? []) this.labelIdx[r] = id;
      },
    );
  }

  private async labelSingle(row: number, label: string | null): Promise<void> {
    await this.edit(
      () => this.api.invoke('labels.assign', { paths: [this.paths[row]], label, source: 'single' }),
      () => {
        this.labelIdx[row] = label ? this.labelIndex(label) : -1;
      },
    );
    this.gallery.refresh();
  }

  private async renameLabel(from: string, to: string): Promise<void> {
    await this.edit(
      () => this.api.invoke('labels.rename', { from, to }),
      () => {
        const a = this.labelId.get(from);
        if (a === undefined) return;
        const b = this.labelIndex(to);
        for (let i = 0; i < this.labelIdx.length; i++) if (this.labelIdx[i] === a) this.labelIdx[i] = b;
      },
    );
  }

  private async deleteLabel(label: string): Promise<void> {
    await this.edit(
      () => this.api.invoke('labels.delete', { label }),
      () => {
        const a = this.labelId.get(label);
        if (a === undefined) return;
        for (let i = 0; i < this.labelIdx.length; i++) if (this.labelIdx[i] === a) this.labelIdx[i] = -1;
      },
    );
  }

  private async exportCsv(): Promise<void> {
    const name = `${baseName(this.state.dir) || 'clusterlens'}-labels.csv`;
    try {
      const native = window.clusterlensNative;
      if (native?.saveFile) {
        const out = await native.saveFile({ defaultName: name });
        if (!out) return;
        const r = await this.api.invoke('export.csv', { out });
        toast(`Exported ${fmtInt(r.rows)} rows (${fmtInt(r.labeled)} labeled) to ${r.out ?? out}`);
        return;
      }
      const r = await this.api.invoke('export.csv', {});
      if (r.csv === undefined) throw new Error('the server returned no CSV');
      const url = URL.createObjectURL(new Blob([r.csv], { type: 'text/csv;charset=utf-8' }));
      const a = h('a', { href: url, download: name });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      toast(`Exported ${fmtInt(r.rows)} rows (${fmtInt(r.labeled)} labeled)`);
    } catch (err) {
      toast(errorMessage(err), 'error');
    }
  }

  // ---------------------------------------------------------------- detail view

  private openDetail(row: number): void {
    this.hoverImg.classList.remove('show');
    const path = this.paths[row];
    const input = h('input#detail-label', { type: 'text', value: this.labelOf(row), list: 'label-options', placeholder: 'Label…', 'aria-label': 'Label of this image' });
    const recon = h('div.recon#detail-recon', {}, h('span.hint', {}, 'Reconstructing…'));
    void this.api
      .invoke('image.reconstruction', { path })
      .then((r) => {
        clear(recon);
        recon.append(
          h('figure', {}, h('img#recon-input', { src: r.original, alt: 'what the model sees' }), h('figcaption', {}, `model input (${r.size}×${r.size})`)),
          h('figure', {}, h('img#recon-output', { src: r.reconstruction, alt: 'the reconstruction' }), h('figcaption', {}, `reconstruction (error ${r.error.toPrecision(3)})`)),
        );
      })
      .catch((err: unknown) => {
        clear(recon);
        recon.append(h('span.hint', {}, `No reconstruction: ${errorMessage(err)}`));
      });
    const card = h(
      'div.card.detail-card',
      { role: 'dialog', 'aria-label': `Image ${path}` },
      h('button.ghost.close', { type: 'button', 'aria-label': 'Close', onclick: () => this.closeOverlays() }, '×'),
      h('img.detail-img', { src: this.api.imageUrl(path, false), alt: path }),
      recon,
      h(
        'dl.detail-info',
        {},
        h('dt', {}, 'Path'),
        h('dd.path', {}, path),
        h('dt', {}, 'Cluster'),
        h('dd', {}, this.cluster[row] >= 0 ? String(this.cluster[row]) : '—'),
        h('dt', {}, 'Label'),
        h('dd', {}, this.labelOf(row) || 'unlabeled'),
        h('dt', {}, 'Reconstruction error'),
        h('dd', {}, Number.isFinite(this.errors[row]) ? this.errors[row].toPrecision(3) : '—'),
        h('dt', {}, 'Outlier score'),
        h('dd', {}, Number.isFinite(this.outliers[row]) ? this.outliers[row].toFixed(2) : '—'),
      ),
      h(
        'form.row',
        {
          onsubmit: (ev: Event) => {
            ev.preventDefault();
            const v = input.value.trim();
            void this.labelSingle(row, v || null).then(() => this.closeOverlays());
          },
        },
        input,
        h('button.primary', { type: 'submit' }, 'Set label'),
        this.labelIdx[row] >= 0 ? h('button.secondary', { type: 'button', onclick: () => void this.labelSingle(row, null).then(() => this.closeOverlays()) }, 'Clear') : null,
      ),
      h('div.row', {}, h('button.secondary#more-like-this', { type: 'button', onclick: () => void this.moreLikeThis(row) }, 'More like this')),
    );
    clear(this.detail);
    this.detail.appendChild(card);
    this.detail.classList.remove('hidden');
    input.focus();
  }

  private async moreLikeThis(row: number): Promise<void> {
    try {
      const r = await this.api.invoke('similar', { path: this.paths[row], top: 48 });
      const { rows, dist } = this.neighbourRows(r.neighbours, row);
      this.closeOverlays();
      this.setSelection(rows, `like ${baseName(this.paths[row])}`, true, dist);
    } catch (err) {
      toast(errorMessage(err), 'error');
    }
  }

  /** Project rows of a similarity search's neighbours and their distances, after `query` (distance 0) if given. */
  private neighbourRows(neighbours: { path: string; distance: number }[], query?: number): { rows: number[]; dist: Map<number, number> } {
    const rows = query === undefined ? [] : [query];
    const dist = new Map<number, number>(query === undefined ? [] : [[query, 0]]);
    for (const n of neighbours) {
      const i = this.pathIndex.get(n.path);
      if (i !== undefined && !dist.has(i)) {
        rows.push(i);
        dist.set(i, n.distance);
      }
    }
    return { rows, dist };
  }

  /** Search by an image from outside the project: the nearest project images become the selection. */
  private async searchByFile(file: File): Promise<void> {
    if (!/^image\//.test(file.type) && !/\.(png|jpe?g|gif|webp|bmp|tiff?|avif)$/i.test(file.name)) {
      toast(`${file.name}: not an image`, 'error');
      return;
    }
    if (file.size > MAX_IMAGE_BYTES) {
      toast(`${file.name}: too large to search by (${fmtInt(Math.round(file.size / 1e6))} MB; at most 32 MB)`, 'error');
      return;
    }
    try {
      const data = await fileBase64(file);
      const r = await this.api.invoke('similar.image', { name: file.name, data, top: 48 });
      const { rows, dist } = this.neighbourRows(r.neighbours);
      this.showQueryCard(file, r.score, rows.length ? dist.get(rows[0])! : null);
      this.setSelection(rows, `like ${file.name}`, true, dist);
      this.setTab('selection');
    } catch (err) {
      toast(errorMessage(err), 'error');
    }
  }

  private showQueryCard(file: File, score: { label: string | null; score: number; outlier: boolean } | null, nearest: number | null): void {
    const old = this.queryCard.querySelector('img')?.getAttribute('src');
    if (old?.startsWith('blob:')) URL.revokeObjectURL(old);
    clear(this.queryCard);
    const verdict = !score || !score.label ? 'nothing is labeled yet to score it against' : score.outlier ? `unlike anything labeled (best: ${score.label}, ${score.score.toFixed(2)})` : `looks like ${score.label} (score ${score.score.toFixed(2)})`;
    this.queryCard.append(
      h('img', { src: URL.createObjectURL(file), alt: file.name }),
      h('div', {}, h('div.name', {}, `Searched by ${file.name}`), h('div.hint#query-verdict', {}, verdict), nearest !== null ? h('div.hint', {}, `nearest distance ${nearest.toFixed(3)}`) : null),
      h('button.ghost.small', { type: 'button', title: 'Hide', onclick: () => this.queryCard.classList.add('hidden') }, '×'),
    );
    this.queryCard.classList.remove('hidden');
  }

  private async loadOutliers(): Promise<void> {
    this.outliersLoaded = true;
    this.outlierHead.textContent = 'Ranking outliers…';
    try {
      const top = Math.min(500, this.paths.length);
      const r = await this.api.invoke('outliers', { top });
      this.outlierRows = [];
      this.outlierScores.clear();
      let flagged = 0;
      for (const it of r.items) {
        const i = this.pathIndex.get(it.path);
        if (i === undefined) continue;
        this.outlierRows.push(i);
        this.outlierScores.set(i, it.score);
        if (it.flagged) flagged++;
      }
      this.flaggedCount = flagged;
      this.outlierHead.textContent = `The ${fmtInt(this.outlierRows.length)} most unusual images, by outlier score (${fmtInt(flagged)} flagged)`;
      this.outlierGallery.setItems(this.outlierRows);
    } catch (err) {
      this.outliersLoaded = false;
      this.outlierHead.textContent = errorMessage(err);
    }
  }

  private selectOutliers(): void {
    const rows = this.outlierRows.slice(0, this.flaggedCount);
    if (rows.length === 0) {
      toast('No image is flagged as an outlier');
      return;
    }
    this.setSelection(rows, 'flagged outliers');
  }

  private async mergeClusters(ids: number[]): Promise<void> {
    await this.clusterEdit(() => this.api.invoke('clusters.merge', { clusters: ids }));
  }

  private async clusterEdit(run: () => Promise<{ description: string; state: ProjectState }>): Promise<void> {
    await this.exclusive(async () => {
      const r = await run();
      this.state = r.state;
      this.mergePicked.clear();
      await this.refetchPoints();
      this.status.dataset.lastEdit = r.description;
      this.renderStatus(r.description);
      toast(r.description);
    });
  }

  private renderMergeBar(): void {
    clear(this.mergeBar);
    const merges = this.state.clusters?.merges ?? 0;
    const n = this.mergePicked.size;
    this.mergeBar.classList.toggle('hidden', n === 0 && merges === 0);
    const merge = h('button.primary.small#merge-clusters', { type: 'button', title: 'Merge the ticked clusters into the lowest-numbered one (M)', onclick: () => void this.mergeClusters([...this.mergePicked]) }, `Merge ${n} clusters`) as HTMLButtonElement;
    merge.disabled = n < 2;
    this.mergeBar.append(h('span.hint', {}, n < 2 ? 'Tick two or more clusters to merge them' : `Clusters ${[...this.mergePicked].sort((a, b) => a - b).join(', ')}`), merge);
    if (merges > 0) this.mergeBar.append(h('button.secondary.small#unmerge', { type: 'button', title: 'Undo the last merge', onclick: () => void this.clusterEdit(() => this.api.invoke('clusters.unmerge', {})) }, 'Undo merge'));
  }

  private closeOverlays(): boolean {
    let closed = false;
    for (const o of [this.detail, this.help]) {
      if (!o.classList.contains('hidden')) {
        o.classList.add('hidden');
        closed = true;
      }
    }
    return closed;
  }

  private toggleHelp(): void {
    this.help.classList.toggle('hidden');
  }

  // ---------------------------------------------------------------- panels

  private setTab(t: Tab): void {
    this.tab = t;
    this.saveView();
    if (t === 'outliers' && !this.outliersLoaded) void this.loadOutliers();
    for (const [name, { button, panel }] of Object.entries(this.tabs)) {
      button.classList.toggle('active', name === t);
      button.setAttribute('aria-selected', String(name === t));
      panel.classList.toggle('hidden', name !== t);
    }
  }

  private renderAll(): void {
    this.renderColorButtons();
    this.renderClusters();
    this.renderMeta();
    this.renderSelectionHead();
    this.gallery.setItems(this.selection, true);
  }

  private renderAfterEdit(description: string): void {
    this.renderMeta();
    this.renderClusterLabels();
    this.status.dataset.lastEdit = description;
    this.renderStatus(description);
  }

  /** Labels panel, undo/redo, datalist, status. */
  private renderMeta(): void {
    this.undoBtn.disabled = !this.state.canUndo;
    this.redoBtn.disabled = !this.state.canRedo;
    clear(this.labelOptions);
    for (const l of this.state.labels) this.labelOptions.appendChild(h('option', { value: l.label }));
    this.renderLabels();
    this.renderStatus();
  }

  private renderStatus(last?: string): void {
    const n = this.paths.length;
    const labeled = this.state.labeled;
    clear(this.status);
    this.status.append(
      h('span#status-images', {}, `${fmtInt(n)} images`),
      h('span#status-labeled', { 'data-count': labeled }, `${fmtInt(labeled)} labeled`),
      h('span#status-unlabeled', {}, `${fmtInt(n - labeled)} unlabeled`),
      h('span#status-k', { title: [this.state.clusters ? `clusters: ${this.state.clusters.method}` : '', this.state.projection ? `map: ${this.state.projection.method}` : ''].filter(Boolean).join('\n') }, this.state.clusters ? `k = ${this.state.clusters.k}` : 'no clusters'),
      h('span#status-map', {}, this.state.projection?.features === 'codes+hog' ? 'map: codes + shape' : ''),
      h('span', {}, this.selection.length ? `${fmtInt(this.selection.length)} selected` : ''),
      h('span.spacer'),
      h('span.last-edit', {}, last ?? this.status.dataset.lastEdit ?? ''),
    );
  }

  private renderLabels(): void {
    clear(this.labelList);
    const labels = [...this.state.labels].sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
    const unlabeled = this.paths.length - this.state.labeled;
    this.labelList.appendChild(
      h('div.label-row.muted', {}, h('span.swatch', { style: `background:${UNLABELED}` }), h('span.name', {}, 'unlabeled'), h('span.num', {}, fmtInt(unlabeled))),
    );
    if (labels.length === 0) this.labelList.appendChild(h('p.hint', {}, 'No labels yet: label a cluster or a selection.'));
    for (const l of labels) {
      const id = this.labelIndex(l.label);
      const name = h('button.link.name', { type: 'button', title: 'Select these images', onclick: () => this.selectLabel(l.label) }, l.label);
      const row = h(
        'div.label-row',
        { 'data-label': l.label },
        h('span.swatch', { style: `background:${this.labelColor(id)}` }),
        name,
        h('span.num', {}, fmtInt(l.count)),
        h('button.ghost.small', { type: 'button', title: 'Rename', onclick: () => startRename() }, 'Rename'),
        h('button.ghost.small.danger', { type: 'button', title: 'Delete this label (undo brings it back)', onclick: () => void this.deleteLabel(l.label) }, 'Delete'),
      );
      const startRename = () => {
        const input = h('input.rename', { type: 'text', value: l.label, 'aria-label': `New name for ${l.label}` });
        const done = (save: boolean) => {
          const v = input.value.trim();
          if (save && v && v !== l.label) void this.renameLabel(l.label, v);
          else this.renderLabels();
        };
        input.addEventListener('keydown', (ev) => {
          if (ev.key === 'Enter') done(true);
          else if (ev.key === 'Escape') {
            ev.stopPropagation();
            done(false);
          }
        });
        input.addEventListener('blur', () => done(true));
        name.replaceWith(input);
        input.focus();
        input.select();
      };
      this.labelList.appendChild(row);
    }
  }

  private selectLabel(label: string): void {
    const id = this.labelId.get(label);
    const rows: number[] = [];
    for (let i = 0; i < this.labelIdx.length; i++) if (this.labelIdx[i] === id) rows.push(i);
    this.setSelection(rows, `label ${label}`);
  }

  private renderClusters(): void {
    clear(this.clusterList);
    const k = this.members.length;
    if (k === 0) {
      this.clusterList.appendChild(h('p.hint', {}, 'This project has no clusters yet.'));
      return;
    }
    const info = this.state.clusters;
    if (info?.suggested) this.clusterList.appendChild(h('p.hint', {}, info.suggested));
    const shown = Math.min(k, 200);
    const merged = this.members.filter((m) => m.length === 0).length;
    if (merged > 0) this.clusterList.appendChild(h('p.hint', {}, `${k - merged} clusters (${merged} merged into others)`));
    this.renderMergeBar();
    for (let c = 0; c < shown; c++) {
      const rows = this.members[c];
      if (rows.length === 0) continue; // merged into another cluster
      const pick = h('input.merge-pick', { type: 'checkbox', title: 'Tick to merge with other clusters', 'aria-label': `Pick cluster ${c} for merging` }) as HTMLInputElement;
      pick.checked = this.mergePicked.has(c);
      pick.addEventListener('change', () => {
        if (pick.checked) this.mergePicked.add(c);
        else this.mergePicked.delete(c);
        this.renderMergeBar();
      });
      const strip = h('div.strip');
      const samples = Math.min(6, rows.length);
      for (let s = 0; s < samples; s++) {
        const r = rows[Math.floor((s * rows.length) / samples)];
        strip.appendChild(h('img', { src: this.api.imageUrl(this.paths[r], true), alt: '', title: this.paths[r], loading: 'lazy', onclick: () => this.openDetail(r) }));
      }
      const input = h('input.cluster-label', { type: 'text', placeholder: 'Label…', list: 'label-options', 'aria-label': `Label for cluster ${c}` });
      const card = h(
        'div.cluster',
        { 'data-cluster': c },
        h(
          'div.cluster-head',
          {},
          pick,
          h('span.swatch', { style: `background:${paletteColor(c)}` }),
          h('button.link', { type: 'button', title: 'Select this cluster', onclick: () => this.setSelection(Array.from(this.members[c]), `cluster ${c}`) }, `Cluster ${c}`),
          h('span.num', {}, `${fmtInt(rows.length)} images`),
          h('span.cluster-current'),
        ),
        strip,
        h(
          'form.row',
          {
            onsubmit: (ev: Event) => {
              ev.preventDefault();
              void this.labelCluster(c, input.value.trim());
            },
          },
          input,
          h('button.secondary.label-cluster', { type: 'submit' }, 'Label cluster'),
        ),
      );
      this.clusterList.appendChild(card);
    }
    if (k > shown) this.clusterList.appendChild(h('p.hint', {}, `${k - shown} more clusters not shown.`));
    this.renderClusterLabels();
  }

  /** The majority label of each cluster card. */
  private renderClusterLabels(): void {
    const cards = this.clusterList.querySelectorAll<HTMLElement>('.cluster');
    cards.forEach((card) => {
      const c = Number(card.dataset.cluster);
      const rows = this.members[c];
      const counts = new Map<number, number>();
      let labeled = 0;
      for (const r of rows) {
        const id = this.labelIdx[r];
        if (id >= 0) {
          labeled++;
          counts.set(id, (counts.get(id) ?? 0) + 1);
        }
      }
      const cur = card.querySelector<HTMLElement>('.cluster-current');
      if (!cur) return;
      clear(cur);
      if (labeled === 0) return;
      let best = -1;
      let bestN = 0;
      for (const [id, n] of counts) if (n > bestN) [best, bestN] = [id, n];
      const pct = Math.round((100 * labeled) / rows.length);
      cur.append(h('span.chip', { style: `border-color:${this.labelColor(best)}` }, this.labelNames[best]), counts.size > 1 || pct < 100 ? ` ${pct}% labeled` : '');
    });
  }

  // ---------------------------------------------------------------- keyboard

  private onKey(ev: KeyboardEvent): void {
    const target = ev.target as HTMLElement | null;
    const typing = !!target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.isContentEditable);
    const mod = ev.ctrlKey || ev.metaKey;
    if (mod && !ev.altKey) {
      const key = ev.key.toLowerCase();
      if (typing && (key === 'z' || key === 'y')) return; // the input's own undo
      if (key === 'z' && !ev.shiftKey) {
        ev.preventDefault();
        this.undoBtn.click();
      } else if ((key === 'z' && ev.shiftKey) || key === 'y') {
        ev.preventDefault();
        this.redoBtn.click();
      }
      return;
    }
    if (ev.key === 'Escape') {
      if (this.closeOverlays()) return;
      if (typing) {
        target?.blur();
        return;
      }
      this.setSelection([], '');
      return;
    }
    if (typing || ev.altKey) return;
    switch (ev.key) {
      case 'l':
      case 'L':
        ev.preventDefault();
        this.setTab('selection');
        this.selLabel.focus();
        break;
      case 'c':
      case 'C':
        this.setColorMode(this.colorMode === 'cluster' ? 'label' : this.colorMode === 'label' ? 'outlier' : 'cluster');
        break;
      case 's':
      case 'S':
        this.setDragmode('lasso');
        break;
      case 'b':
      case 'B':
        this.setDragmode('select');
        break;
      case 'p':
      case 'P':
        this.setDragmode('pan');
        break;
      case 'e':
      case 'E':
        void this.exportCsv();
        break;
      case '1':
      case '2':
      case '3':
      case '4':
        this.setTab(TABS[Number(ev.key) - 1]);
        break;
      case 'm':
      case 'M':
        if (this.mergePicked.size >= 2) void this.mergeClusters([...this.mergePicked]);
        else toast('Tick two or more clusters in the Clusters panel to merge them');
        break;
      case 'f':
      case 'F':
        this.fileInput.click();
        break;
      case '?':
        this.toggleHelp();
        break;
      default:
        break;
    }
  }
}

function helpCard(): HTMLElement {
  const keys: [string, string][] = [
    ['L', 'label the selection (focus the label field)'],
    ['Esc', 'clear the selection / close a dialog'],
    ['C', 'colour by cluster → label → outlier score'],
    ['S / B / P', 'lasso / box select / pan'],
    ['1 / 2 / 3 / 4', 'clusters / labels / selection / outliers panel'],
    ['M', 'merge the ticked clusters'],
    ['F', 'search by an image from outside the project (or drop it on the window)'],
    ['Ctrl+Z', 'undo the last label edit'],
    ['Ctrl+Shift+Z, Ctrl+Y', 'redo'],
    ['E', 'export CSV'],
    ['?', 'this help'],
  ];
  return h(
    'div.card.help-card',
    { role: 'dialog', 'aria-label': 'Keyboard shortcuts' },
    h('h2', {}, 'Keyboard shortcuts'),
    h('dl.keys', {}, ...keys.flatMap(([k, v]) => [h('dt', {}, h('kbd', {}, k)), h('dd', {}, v)])),
    h('p.hint', {}, 'Scroll to zoom the map, double-click to reset it. Hover a point to see its image; click it for details.'),
  );
}

/** Outlier colouring in 32 steps: grey for ordinary points, then through orange to red for the most unusual. */
const OUTLIER_STEPS: string[] = Array.from({ length: 32 }, (_, i) => outlierColor((i + 0.5) / 32));

function outlierColor(t: number): string {
  const stops: [number, [number, number, number]][] = [
    [0, [212, 216, 222]],
    [0.35, [212, 216, 222]],
    [0.6, [253, 174, 97]],
    [0.8, [244, 109, 67]],
    [1, [165, 0, 38]],
  ];
  let j = 1;
  while (j < stops.length - 1 && t > stops[j][0]) j++;
  const [t0, c0] = stops[j - 1];
  const [t1, c1] = stops[j];
  const f = Math.min(1, Math.max(0, (t - t0) / (t1 - t0)));
  return '#' + c0.map((v, k) => Math.round(v + (c1[k] - v) * f).toString(16).padStart(2, '0')).join('');
}

/** Whether plotly's WebGL map worked in this page (undefined: not tried yet). */
let webglWorks: boolean | undefined;

const VIEW_KEY = 'clusterlens:view:';
const COLOR_MODES: readonly ColorMode[] = ['cluster', 'label', 'outlier'];
/** In the order of the tabs and of their keys 1–4. */
const TABS: readonly Tab[] = ['clusters', 'labels', 'selection', 'outliers'];

function loadView(dir: string): { color?: ColorMode; tab?: Tab } {
  try {
    const v = JSON.parse(localStorage.getItem(VIEW_KEY + dir) ?? '{}') as { color?: unknown; tab?: unknown };
    return {
      color: COLOR_MODES.find((m) => m === v.color),
      tab: TABS.find((t) => t === v.tab && t !== 'selection'), // a selection is not kept
    };
  } catch {
    return {};
  }
}

/** A File's bytes as base64 (for the JSON API). */
async function fileBase64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function sameArray(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function baseName(p: string): string {
  const parts = p.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? p;
}
