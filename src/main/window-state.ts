/**
 * Remembers the main window's size, position and maximised state in `<userData>/window-state.json`.
 *
 * The file is tiny and written synchronously and atomically (temp file, fsync, rename), so the last write
 * on `close` lands even though the app quits right after. What is read back is validated: wrong types,
 * absurd sizes or a position on a display that is no longer attached fall back to a centred default.
 */
import type { BrowserWindow, Rectangle } from 'electron';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface WindowState {
  x?: number;
  y?: number;
  width: number;
  height: number;
  maximized: boolean;
}

export const DEFAULT_WINDOW_STATE: WindowState = { width: 1280, height: 820, maximized: false };
export const MIN_WIDTH = 720;
export const MIN_HEIGHT = 480;
/** How much of a remembered window must lie on some display for its position to be reused. */
const MIN_VISIBLE = 64;
const SAVE_DEBOUNCE_MS = 400;

export function windowStateFile(userDataDir: string): string {
  return join(userDataDir, 'window-state.json');
}

/**
 * The remembered state, validated against the displays' work areas (`screen.getAllDisplays().map(d => d.workArea)`);
 * the default when there is none or it is unusable.
 */
export function loadWindowState(file: string, workAreas: readonly Rectangle[]): WindowState {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return { ...DEFAULT_WINDOW_STATE };
  }
  return sanitizeWindowState(raw, workAreas);
}

export function sanitizeWindowState(raw: unknown, workAreas: readonly Rectangle[]): WindowState {
  if (typeof raw !== 'object' || raw === null) return { ...DEFAULT_WINDOW_STATE };
  const r = raw as Record<string, unknown>;
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v) : undefined);
  const maxW = Math.max(MIN_WIDTH, ...workAreas.map((a) => a.width));
  const maxH = Math.max(MIN_HEIGHT, ...workAreas.map((a) => a.height));
  const width = clamp(num(r.width) ?? DEFAULT_WINDOW_STATE.width, MIN_WIDTH, maxW);
  const height = clamp(num(r.height) ?? DEFAULT_WINDOW_STATE.height, MIN_HEIGHT, maxH);
  const state: WindowState = { width, height, maximized: r.maximized === true };
  const x = num(r.x);
  const y = num(r.y);
  if (x !== undefined && y !== undefined && workAreas.some((a) => visibleOn({ x, y, width, height }, a))) {
    state.x = x;
    state.y = y;
  }
  return state;
}

/** Write the state atomically (synchronously: it must survive the app quitting right after). */
export function saveWindowState(file: string, state: WindowState): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o644);
  let renamed = false;
  try {
    writeSync(fd, JSON.stringify(state, null, 2) + '\n');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
    renamed = true;
  } finally {
    if (!renamed) {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
      try {
        unlinkSync(tmp);
      } catch {
        /* nothing to remove */
      }
    }
  }
}

/** Save `win`'s bounds while it moves or resizes (debounced) and when it closes. Never throws. */
export function trackWindowState(win: BrowserWindow, file: string): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const save = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (win.isDestroyed()) return;
    try {
      const b = win.getNormalBounds();
      saveWindowState(file, { x: b.x, y: b.y, width: b.width, height: b.height, maximized: win.isMaximized() });
    } catch (e) {
      console.warn(`clusterlens: could not save the window position: ${(e as Error).message}`);
    }
  };
  const later = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(save, SAVE_DEBOUNCE_MS);
  };
  win.on('resize', later);
  win.on('move', later);
  win.on('maximize', later);
  win.on('unmaximize', later);
  win.on('close', save);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function visibleOn(w: Rectangle, a: Rectangle): boolean {
  const ix = Math.min(w.x + w.width, a.x + a.width) - Math.max(w.x, a.x);
  const iy = Math.min(w.y + w.height, a.y + a.height) - Math.max(w.y, a.y);
  // The title bar must be reachable: the window's top edge lies inside the work area vertically.
  return ix >= MIN_VISIBLE && iy >= MIN_VISIBLE && w.y >= a.y && w.y < a.y + a.height - MIN_VISIBLE / 2;
}
