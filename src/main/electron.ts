/**
 * The Electron main process (the packaged app's entry: dist/main/electron.js). One setupX() per concern,
 * called from onReady(): the session (the backend), the app protocol, IPC, the menu, then the window.
 */
import { BrowserWindow, app, dialog } from 'electron';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from './session.js';
import { setupIpc } from './ipc.js';
import { setupMenu } from './menu.js';
import { registerAppScheme, setupProtocol } from './protocol.js';
import { RENDERER_DIR, appBrowserWindows, createMainWindow, setupWebContentsSecurity } from './window.js';

export interface AppHandle {
  session: Session;
  /** Remove the IPC handlers and the event subscription. */
  disposeIpc: () => void;
}

/** Show a fatal startup error to the person (there is no terminal in a packaged app) and quit. */
function fatal(e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  console.error(`clusterlens: ${e instanceof Error && e.stack ? e.stack : message}`);
  try {
    dialog.showErrorBox('Clusterlens could not start', message);
  } finally {
    app.exit(1);
  }
}

export interface ReadyOptions {
  /** The renderer build to serve (default dist/renderer). */
  rendererDir?: string;
}

/** Everything that needs a ready app. Exported for tests. */
export async function onReady(opts: ReadyOptions = {}): Promise<AppHandle> {
  const rendererDir = opts.rendererDir ?? RENDERER_DIR;
  if (!existsSync(join(rendererDir, 'index.html'))) {
    throw new Error(`The user interface is not built (${join(rendererDir, 'index.html')} is missing): run "npm run build" first.`);
  }
  const session = new Session({ mode: 'electron' });
  setupWebContentsSecurity();
  setupProtocol({ rendererDir, imagePath: (rel) => session.imagePath(rel) });
  const disposeIpc = setupIpc(session);
  setupMenu({ isDev: !app.isPackaged || process.env.CLUSTERLENS_DEV === '1' });
  await createMainWindow();

  app.on('activate', () => {
    // macOS: clicking the dock icon with no window open opens one again.
    if (appBrowserWindows().length === 0) createMainWindow().catch(fatal);
  });

  // Stop a running job and release the project before the process ends (once: app.quit() re-enters).
  let closing = false;
  app.on('will-quit', (event) => {
    if (closing) return;
    closing = true;
    event.preventDefault();
    disposeIpc();
    session
      .close()
      .catch((e: unknown) => console.error(`clusterlens: closing the project failed: ${(e as Error).message}`))
      .finally(() => app.quit());
  });
  return { session, disposeIpc };
}

/** Start the app: scheme registration (before ready), single-instance lock, lifecycle. */
export function main(): void {
  app.setName('Clusterlens');
  registerAppScheme();
  if (!app.requestSingleInstanceLock()) {
    // Another Clusterlens is running: it gets focused (second-instance below) and this one leaves.
    app.quit();
    return;
  }
  app.on('second-instance', () => {
    const win = appBrowserWindows()[0] ?? BrowserWindow.getAllWindows()[0];
    if (!win) return;
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app
    .whenReady()
    .then(() => onReady())
    .catch(fatal);
}

// Electron runs this file as the main script; tests import it with the electron module mocked and set
// CLUSTERLENS_NO_AUTOSTART to drive onReady() themselves.
if (process.env.CLUSTERLENS_NO_AUTOSTART !== '1') main();
