/**
 * A virtualised grid of thumbnails: only the rows in view (plus a little overscan) are in the DOM, so a
 * 10,000-image selection scrolls as smoothly as a 10-image one. Cells are kept while they stay in range,
 * so scrolling never reloads a visible image.
 */
import { h } from './dom.js';

export interface GalleryOptions {
  cell: number; // px, square cells including the gap
  thumbUrl(item: number): string;
  caption(item: number): string;
  /** Colour stripe under a cell (its label colour), or null for none. */
  stripe?(item: number): string | null;
  onOpen(item: number): void;
  onRemove?(item: number): void;
}

export class Gallery {
  readonly el: HTMLElement;
  private readonly spacer: HTMLElement;
  private items: ArrayLike<number> = [];
  private cells = new Map<number, HTMLElement>(); // key: position in `items`
  private cols = 1;
  private frame = 0;
  private readonly resizeObserver: ResizeObserver;

  constructor(private readonly opts: GalleryOptions) {
    this.spacer = h('div.gallery-spacer');
    this.el = h('div.gallery', { tabindex: 0 }, this.spacer);
    this.el.addEventListener('scroll', () => this.schedule(), { passive: true });
    this.resizeObserver = new ResizeObserver(() => this.schedule(true));
    this.resizeObserver.observe(this.el);
  }

  get size(): number {
    return this.items.length;
  }

  setItems(items: ArrayLike<number>, keepScroll = false): void {
    this.items = items;
    for (const c of this.cells.values()) c.remove();
    this.cells.clear();
    if (!keepScroll) this.el.scrollTop = 0;
    this.render(true);
  }

  /** Re-render the visible cells (e.g. after their labels changed). */
  refresh(): void {
    for (const c of this.cells.values()) c.remove();
    this.cells.clear();
    this.render(true);
  }

  /** Number of cells currently in the DOM (for tests and the benchmark). */
  get renderedCells(): number {
    return this.cells.size;
  }

  private schedule(force = false): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render(force);
    });
  }

  private render(force = false): void {
    const { cell } = this.opts;
    const width = this.el.clientWidth || 300;
    const cols = Math.max(1, Math.floor(width / cell));
    if (cols !== this.cols) {
      this.cols = cols;
      force = true;
    }
    if (force) {
      for (const c of this.cells.values()) c.remove();
      this.cells.clear();
    }
    const n = this.items.length;
    const rows = Math.ceil(n / cols);
    this.spacer.style.height = `${rows * cell}px`;
    const view = this.el.clientHeight || 400;
    const first = Math.max(0, Math.floor(this.el.scrollTop / cell) - 2);
    const last = Math.min(rows, Math.ceil((this.el.scrollTop + view) / cell) + 2);
    const from = first * cols;
    const to = Math.min(n, last * cols);
    for (const [pos, c] of this.cells) {
      if (pos < from || pos >= to) {
        c.remove();
        this.cells.delete(pos);
      }
    }
    const frag = document.createDocumentFragment();
    for (let pos = from; pos < to; pos++) {
      if (this.cells.has(pos)) continue;
      const c = this.makeCell(this.items[pos], pos, cols);
      this.cells.set(pos, c);
      frag.appendChild(c);
    }
    this.spacer.appendChild(frag);
  }

  private makeCell(item: number, pos: number, cols: number): HTMLElement {
    const { cell } = this.opts;
    const img = h('img', { src: this.opts.thumbUrl(item), alt: '', loading: 'lazy', draggable: 'false' });
    const c = h('div.cell', { title: this.opts.caption(item), 'data-item': item, onclick: () => this.opts.onOpen(item) }, img);
    c.style.transform = `translate(${(pos % cols) * cell}px, ${Math.floor(pos / cols) * cell}px)`;
    c.style.width = c.style.height = `${cell - 6}px`;
    const stripe = this.opts.stripe?.(item);
    if (stripe) c.style.borderBottomColor = stripe;
    if (this.opts.onRemove) {
      const rm = this.opts.onRemove;
      c.appendChild(
        h('button.cell-remove', {
          title: 'Remove from selection',
          'aria-label': 'Remove from selection',
          onclick: (ev: Event) => {
            ev.stopPropagation();
            rm(item);
          },
        }, '×'),
      );
    }
    return c;
  }
}
