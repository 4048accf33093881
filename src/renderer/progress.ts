/** The progress screen: one bar per pipeline step, a live loss curve, the t-SNE map as frames arrive, Cancel. */
import type { ApiEvent } from '../shared/api.js';
import { clear, fmtDuration, fmtInt, h } from './dom.js';

interface StepRow {
  el: HTMLElement;
  bar: HTMLElement;
  count: HTMLElement;
  eta: HTMLElement;
  started: number;
  firstDone: number;
}

export class ProgressView {
  readonly el: HTMLElement;
  private readonly steps: HTMLElement;
  private readonly rows = new Map<string, StepRow>();
  private readonly lossCanvas: HTMLCanvasElement;
  private readonly mapCanvas: HTMLCanvasElement;
  private readonly log: HTMLElement;
  private readonly title: HTMLElement;
  private readonly mapCaption: HTMLElement;
  private losses: number[] = [];
  private frameX: Float32Array = new Float32Array(0);
  private frameY: Float32Array = new Float32Array(0);
  private drawPending = 0;

  constructor(onCancel: () => void) {
    this.title = h('h2', {}, 'Analyzing…');
    this.steps = h('div.steps');
    this.lossCanvas = h('canvas.loss', { width: 360, height: 160, 'aria-label': 'training loss' });
    this.mapCanvas = h('canvas.frame', { width: 360, height: 300, 'aria-label': 't-SNE map in progress' });
    this.mapCaption = h('div.caption', {}, 'The map appears while t-SNE runs.');
    this.log = h('pre.log');
    this.el = h(
      'section.progress-screen',
      {},
      h('div.progress-head', {}, this.title, h('button.danger#cancel-job', { onclick: onCancel }, 'Cancel')),
      this.steps,
      h(
        'div.progress-charts',
        {},
        h('figure', {}, h('figcaption', {}, 'Training loss'), this.lossCanvas),
        h('figure', {}, h('figcaption', {}, 't-SNE map'), this.mapCanvas, this.mapCaption),
      ),
      this.log,
    );
  }

  reset(title: string): void {
    this.title.textContent = title;
    clear(this.steps);
    this.rows.clear();
    this.losses = [];
    this.frameX = new Float32Array(0);
    this.frameY = new Float32Array(0);
    this.log.textContent = '';
    this.mapCaption.textContent = 'The map appears while t-SNE runs.';
    this.draw();
  }

  handle(ev: ApiEvent): void {
    switch (ev.type) {
      case 'progress':
        this.progress(ev.step, ev.done, ev.total, ev.message);
        if (typeof ev.loss === 'number' && Number.isFinite(ev.loss)) {
          this.losses.push(ev.loss);
          this.schedule();
        }
        break;
      case 'frame': {
        if (ev.indices && ev.indices.length === ev.x.length && this.frameX.length > 0) {
          for (let j = 0; j < ev.indices.length; j++) {
            this.frameX[ev.indices[j]] = ev.x[j];
            this.frameY[ev.indices[j]] = ev.y[j];
          }
        } else {
          this.frameX = Float32Array.from(ev.x);
          this.frameY = Float32Array.from(ev.y);
        }
        this.mapCaption.textContent = `iteration ${fmtInt(ev.iteration)} of ${fmtInt(ev.totalIterations)}`;
        this.schedule();
        break;
      }
      case 'log':
        this.log.textContent = (this.log.textContent + ev.line + '\n').split('\n').slice(-12).join('\n');
        break;
      default:
        break;
    }
  }

  private progress(step: string, done: number, total: number, message?: string): void {
    let row = this.rows.get(step);
    const now = performance.now();
    if (!row) {
      const bar = h('div.bar-fill');
      const count = h('span.count');
      const eta = h('span.eta');
      const el = h('div.step', { 'data-step': step }, h('span.step-name', {}, step), h('div.bar', {}, bar), count, eta);
      row = { el, bar, count, eta, started: now, firstDone: done };
      this.rows.set(step, row);
      this.steps.appendChild(el);
      // earlier steps are finished once a later one starts
      for (const r of this.rows.values()) if (r !== row && !r.el.classList.contains('done')) this.finish(r);
    }
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    row.bar.style.width = `${(frac * 100).toFixed(1)}%`;
    row.count.textContent = total > 0 ? `${fmtInt(done)} / ${fmtInt(total)}` : message ?? '';
    if (message) row.el.title = message;
    const elapsed = (now - row.started) / 1000;
    const rate = (done - row.firstDone) / Math.max(elapsed, 1e-3);
    if (done >= total && total > 0) this.finish(row);
    else row.eta.textContent = rate > 0 && elapsed > 1 ? `${fmtDuration((total - done) / rate)} left` : '';
  }

  private finish(row: StepRow): void {
    row.el.classList.add('done');
    row.bar.style.width = '100%';
    row.eta.textContent = 'done';
  }

  private schedule(): void {
    if (this.drawPending) return;
    this.drawPending = requestAnimationFrame(() => {
      this.drawPending = 0;
      this.draw();
    });
  }

  private draw(): void {
    drawLoss(this.lossCanvas, this.losses);
    drawPoints(this.mapCanvas, this.frameX, this.frameY);
  }
}

function drawLoss(c: HTMLCanvasElement, losses: number[]): void {
  const g = c.getContext('2d');
  if (!g) return;
  g.clearRect(0, 0, c.width, c.height);
  g.strokeStyle = '#d5d9df';
  g.strokeRect(0.5, 0.5, c.width - 1, c.height - 1);
  if (losses.length < 1) return;
  let lo = Infinity;
  let hi = -Infinity;
  for (const l of losses) {
    lo = Math.min(lo, l);
    hi = Math.max(hi, l);
  }
  const pad = 14;
  const span = hi - lo || 1;
  g.strokeStyle = '#2563eb';
  g.lineWidth = 2;
  g.beginPath();
  losses.forEach((l, i) => {
    const x = pad + (losses.length === 1 ? 0 : (i / (losses.length - 1)) * (c.width - 2 * pad));
    const y = pad + (1 - (l - lo) / span) * (c.height - 2 * pad);
    if (i === 0) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.stroke();
  g.fillStyle = '#475569';
  g.font = '12px system-ui, sans-serif';
  g.fillText(`loss ${losses[losses.length - 1].toPrecision(4)}`, pad, c.height - 4);
}

function drawPoints(c: HTMLCanvasElement, xs: Float32Array, ys: Float32Array): void {
  const g = c.getContext('2d');
  if (!g) return;
  g.clearRect(0, 0, c.width, c.height);
  g.strokeStyle = '#d5d9df';
  g.strokeRect(0.5, 0.5, c.width - 1, c.height - 1);
  const n = Math.min(xs.length, ys.length);
  if (n === 0) return;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    if (xs[i] < x0) x0 = xs[i];
    if (xs[i] > x1) x1 = xs[i];
    if (ys[i] < y0) y0 = ys[i];
    if (ys[i] > y1) y1 = ys[i];
  }
  const pad = 8;
  const s = Math.min((c.width - 2 * pad) / (x1 - x0 || 1), (c.height - 2 * pad) / (y1 - y0 || 1));
  g.fillStyle = 'rgba(37, 99, 235, 0.55)';
  for (let i = 0; i < n; i++) g.fillRect(pad + (xs[i] - x0) * s, c.height - pad - (ys[i] - y0) * s, 1.6, 1.6);
}
