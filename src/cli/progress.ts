import type { Progress } from '../core/types.js';

/**
 * Progress bars on stderr. On a terminal one line per step is redrawn in place (at most ~10 times a second);
 * elsewhere (CI logs, pipes) a line is printed at each 10% so logs stay short.
 */
export class ProgressBars {
  private current?: string;
  private started = 0;
  private lastDraw = 0;
  private lastDecile = -1;
  private readonly tty: boolean;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {
    this.tty = !!out.isTTY && process.env.CI !== 'true';
  }

  update = (p: Progress): void => {
    const now = Date.now();
    if (p.step !== this.current) {
      this.finishLine();
      this.current = p.step;
      this.started = now;
      this.lastDecile = -1;
      this.lastDraw = 0;
    }
    const complete = p.total > 0 && p.done >= p.total;
    if (this.tty) {
      if (!complete && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      this.out.write(`\r\x1b[2K${this.format(p, now)}`);
      if (complete) this.finishLine();
    } else {
      const decile = p.total > 0 ? Math.floor((10 * p.done) / p.total) : -1;
      if (decile === this.lastDecile && !complete) return;
      this.lastDecile = decile;
      this.out.write(this.format(p, now) + '\n');
      if (complete) this.current = undefined;
    }
  };

  private format(p: Progress, now: number): string {
    const width = 24;
    const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
    const filled = Math.round(frac * width);
    const bar = p.total > 0 ? '█'.repeat(filled) + '░'.repeat(width - filled) : '…'.padEnd(width, ' ');
    const elapsed = (now - this.started) / 1000;
    const eta = frac > 0.02 && frac < 1 ? ` eta ${fmtSeconds((elapsed * (1 - frac)) / frac)}` : '';
    const counts = p.total > 0 ? `${p.done}/${p.total}` : `${p.done}`;
    const loss = p.loss !== undefined ? ` loss ${p.loss.toPrecision(4)}` : '';
    const msg = p.message ? ` ${p.message}` : '';
    return `${p.step.padEnd(9)} ${bar} ${(frac * 100).toFixed(0).padStart(3)}% ${counts}${loss}${msg} ${fmtSeconds(elapsed)}${eta}`;
  }

  finishLine(): void {
    if (this.tty && this.current !== undefined) this.out.write('\n');
    this.current = undefined;
  }
}

export function fmtSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
}
