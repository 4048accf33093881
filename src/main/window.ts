/**
 * The app's windows: creation with the locked-down webPreferences, the navigation/new-window guards, and
 * the registry of our own webContents that the IPC sender check and the event broadcast rely on.
 */
import { BrowserWindow, app, screen, session, shell, type WebContents } from 'electron';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { APP_START_URL, isAppUrl } from './protocol.js';
import { MIN_HEIGHT, MIN_WIDTH, loadWindowState, trackWindowState, windowStateFile } from './window-state.js';

/** The app's root folder (the one holding package.json, dist/ and models/), from this file in dist/main or src/main. */
export const APP_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const PRELOAD_PATH = join(APP_ROOT, 'dist', 'preload', 'preload.cjs');
export const RENDERER_DIR = join(APP_ROOT, 'dist', 'renderer');

/** webContents of every window we created (by id: a destroyed WebContents must not be touched). */
const appWindows = new Map<number, BrowserWindow>();

/** True when `wc` belongs to one of the app's own windows (not devtools, not anything else). */
export function isAppWebContents(wc: WebContents | null | undefined): boolean {
  if (!wc) return false;
  const win = appWindows.get(wc.id);
  return win !== undefined && !win.isDestroyed() && win.webContents === wc;
}

/** The app's windows that are still open. */
export function appBrowserWindows(): BrowserWindow[] {
  return [...appWindows.values()].filter((w) => !w.isDestroyed());
}

/** Send `payload` on `channel` to every app window that is still alive. */
export function sendToAppWindows(channel: string, payload: unknown): void {
  for (const win of appBrowserWindows()) {
    const wc = win.webContents;
    if (!wc.isDestroyed()) wc.send(channel, payload);
  }
}

/** The window a menu command or dialog belongs to: the focused app window, else the first one. */
export function currentAppWindow(): BrowserWindow | undefined {
  const focused = BrowserWindow.getFocusedWindow();
  if (focused && appWindows.get(focused.webContents.id) === focused) return focused;
  return appBrowserWindows()[0];
}

export interface MainWindowOptions {
  preload?: string;
  startUrl?: string;
  /** Where window-state.json lives; app.getPath('userData') by default. */
  stateDir?: string;
}

/** Create the main window, load the renderer, show it when painted. */
export async function createMainWindow(opts: MainWindowOptions = {}): Promise<BrowserWindow> {
  const stateFile = windowStateFile(opts.stateDir ?? app.getPath('userData'));
  const state = loadWindowState(
    stateFile,
    screen.getAllDisplays().map((d) => d.workArea),
  );
  const win = new BrowserWindow({
    title: 'Clusterlens',
    width: state.width,
    height: state.height,
    ...(state.x !== undefined && state.y !== undefined ? { x: state.x, y: state.y } : { center: true }),
    minWidth: MIN_WIDTH,
    minHeight: MIN_HEIGHT,
    show: false,
    backgroundColor: '#ffffff',
    webPreferences: {
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      preload: opts.preload ?? PRELOAD_PATH,
    },
  });
  const id = win.webContents.id;
  appWindows.set(id, win);
  win.on('closed', () => appWindows.delete(id));
  hardenWebContents(win.webContents);
  trackWindowState(win, stateFile);
  if (state.maximized) win.maximize();
  win.once('ready-to-show', () => win.show());
  await win.loadURL(opts.startUrl ?? APP_START_URL);
  return win;
}

/**
 * Guards for one webContents: navigation only within our origin (an https link opens in the system browser
 * instead), no new windows (same), no <webview>.
 */
export function hardenWebContents(wc: WebContents): void {
  wc.on('will-navigate', (event, url) => {
    if (isAppUrl(url)) return;
    event.preventDefault();
    openExternalIfSafe(url);
  });
  wc.on('will-redirect', (event, url) => {
    if (!isAppUrl(url)) event.preventDefault();
  });
  wc.setWindowOpenHandler(({ url }) => {
    openExternalIfSafe(url);
    return { action: 'deny' };
  });
  wc.on('will-attach-webview', (event) => event.preventDefault());
}

/** Open `url` in the system browser when it is a plain https URL; everything else (file:, javascript:, custom schemes) is dropped. */
export function openExternalIfSafe(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol !== 'https:' || u.username || u.password) return false;
  void shell.openExternal(u.href).catch(() => {});
  return true;
}

/**
 * App-wide defaults, once after ready: guard every webContents that gets created (belt and braces for the
 * per-window guards) and refuse every permission request (camera, notifications, geolocation, ...).
 */
export function setupWebContentsSecurity(): void {
  app.on('web-contents-created', (_event, wc) => {
    wc.on('will-navigate', (event, url) => {
      if (!isAppUrl(url)) event.preventDefault();
    });
    wc.setWindowOpenHandler(() => ({ action: 'deny' }));
    wc.on('will-attach-webview', (event) => event.preventDefault());
  });
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
}
