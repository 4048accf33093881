/**
 * The Electron main process and preload, against the shared electron mock (Electron's binary is not needed):
 * window hardening, IPC sender checks with a real Session behind, the app protocol's path guard on real
 * files, the bundled preload's exposed surface, the menu, the window-state file.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import sharp from 'sharp';

vi.mock('electron', () => import('../mocks/electron.js'));
// src/main/electron.ts starts the app on import unless told not to: the tests call main() themselves.
process.env.CLUSTERLENS_NO_AUTOSTART = '1';

import * as electron from '../mocks/electron.js';
import { Session } from '../../src/main/session.js';
import { resolveInside } from '../../src/main/path-guard.js';
import { setupIpc } from '../../src/main/ipc.js';
import { APP_START_URL, CONTENT_SECURITY_POLICY, createProtocolHandler, isAppUrl, registerAppScheme } from '../../src/main/protocol.js';
import { createMainWindow, isAppWebContents } from '../../src/main/window.js';
import { menuTemplate, setupMenu } from '../../src/main/menu.js';
import { loadWindowState, sanitizeWindowState, saveWindowState, windowStateFile } from '../../src/main/window-state.js';
import { IPC_CHANNELS, type IpcReply } from '../../src/preload/contract.js';
import type { ApiEvent, ClusterlensApi } from '../../src/shared/api.js';

import { buildPreload } from '../../scripts/build-preload.mjs';

const { recorded, invokeMain, MockWebContents, MockWebFrameMain } = electron;

let tmp: string;
let session: Session;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'clusterlens-electron-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});
beforeEach(async () => {
  electron.resetElectronMock();
  recorded.userData = await mkdtemp(join(tmp, 'userdata-'));
  session = new Session({ mode: 'electron', stateDir: recorded.userData });
});
afterEach(async () => {
  await session.close();
});

async function openWindow(): Promise<electron.MockBrowserWindow> {
  await createMainWindow({ stateDir: recorded.userData });
  const win = recorded.windows.at(-1)!;
  return win;
}

describe('main window', () => {
  it('is created locked down, with the bundled CommonJS preload, on the app origin', async () => {
    const win = await openWindow();
    const wp = win.options.webPreferences!;
    expect(wp.contextIsolation).toBe(true);
    expect(wp.sandbox).toBe(true);
    expect(wp.nodeIntegration).toBe(false);
    expect(wp.webSecurity).toBe(true);
    expect(wp.webviewTag).toBe(false);
    expect(wp.allowRunningInsecureContent).toBe(false);
    expect(String(wp.preload)).toMatch(/[\\/]dist[\\/]preload[\\/]preload\.cjs$/);
    expect(win.webContents.getURL()).toBe(APP_START_URL);
    expect(isAppUrl(win.webContents.getURL())).toBe(true);
    expect(isAppWebContents(win.webContents as never)).toBe(true);
  });

  it('denies navigation away from the app and every new window; https links go to the system browser', async () => {
    const win = await openWindow();
    const wc = win.webContents;
    expect(wc.navigate('https://evil.example/phish')).toBe(true);
    expect(electron.shell.openExternal).toHaveBeenCalledWith('https://evil.example/phish');
    expect(wc.navigate('file:///etc/passwd')).toBe(true);
    expect(wc.navigate('http://example.com/')).toBe(true);
    expect(wc.navigate('javascript:alert(1)')).toBe(true);
    expect(wc.navigate('clusterlens://image/?path=a.png')).toBe(true);
    expect(electron.shell.openExternal).toHaveBeenCalledTimes(1);
    expect(wc.navigate('https://evil.example/', 'will-redirect')).toBe(true);
    // Within the app's own origin navigation is fine.
    expect(wc.navigate('clusterlens://app/index.html#map')).toBe(false);

    expect(wc.windowOpen('https://example.com/docs')).toBe('deny');
    expect(electron.shell.openExternal).toHaveBeenLastCalledWith('https://example.com/docs');
    expect(wc.windowOpen('clusterlens://app/index.html')).toBe('deny');
    expect(wc.windowOpen('file:///etc/passwd')).toBe('deny');
    expect(electron.shell.openExternal).toHaveBeenCalledTimes(2);

    const attach = electron.preventableEvent();
    wc.emit('will-attach-webview', attach);
    expect(attach.defaultPrevented).toBe(true);
  });

  it('remembers its size and position across restarts (atomic JSON in userData)', async () => {
    const win = await openWindow();
    win.bounds = { x: 40, y: 30, width: 1000, height: 700 };
    win.close();
    const saved = JSON.parse(await readFile(windowStateFile(recorded.userData), 'utf8'));
    expect(saved).toEqual({ x: 40, y: 30, width: 1000, height: 700, maximized: false });
    const again = await openWindow();
    expect(again.options).toMatchObject({ x: 40, y: 30, width: 1000, height: 700 });
  });
});

describe('window state', () => {
  const screen = [{ x: 0, y: 0, width: 1920, height: 1080 }];
  it('falls back to a centred default for garbage, and drops positions off every display', async () => {
    const file = join(tmp, 'ws.json');
    await writeFile(file, '{not json');
    expect(loadWindowState(file, screen)).toEqual({ width: 1280, height: 820, maximized: false });
    expect(sanitizeWindowState({ x: 5000, y: 5000, width: 900, height: 600 }, screen)).toEqual({ width: 900, height: 600, maximized: false });
    expect(sanitizeWindowState({ x: 10, y: 10, width: 1e9, height: 'big', maximized: 'yes' }, screen)).toEqual({ x: 10, y: 10, width: 1920, height: 820, maximized: false });
    saveWindowState(file, { x: 1, y: 2, width: 800, height: 600, maximized: true });
    expect(loadWindowState(file, screen)).toEqual({ x: 1, y: 2, width: 800, height: 600, maximized: true });
  });
});

describe('IPC', () => {
  let dispose: () => void;
  beforeEach(() => {
    dispose = setupIpc(session);
  });
  afterEach(() => dispose());

  it('forwards requests from our window to the session and answers { ok, result }', async () => {
    const win = await openWindow();
    const reply = (await invokeMain(IPC_CHANNELS.invoke, win.webContents, undefined, 'app.info', {})) as IpcReply<{ mode: string; version: string }>;
    expect(reply.ok).toBe(true);
    if (reply.ok) expect(reply.result.mode).toBe('electron');
  });

  it('turns session errors into { code, message } without a stack', async () => {
    const win = await openWindow();
    const noProject = (await invokeMain(IPC_CHANNELS.invoke, win.webContents, undefined, 'project.state', {})) as IpcReply;
    expect(noProject).toEqual({ ok: false, error: { code: 'no_project', message: expect.any(String) } });
    const badParams = (await invokeMain(IPC_CHANNELS.invoke, win.webContents, undefined, 'project.open', { dir: 42 })) as IpcReply;
    expect(badParams.ok === false && badParams.error.code).toBe('bad_request');
    const unknown = (await invokeMain(IPC_CHANNELS.invoke, win.webContents, undefined, 'constructor', {})) as IpcReply;
    expect(unknown.ok === false && unknown.error.code).toBe('bad_request');
    for (const r of [noProject, badParams, unknown]) expect(JSON.stringify(r)).not.toMatch(/\bat .*\.[jt]s:\d+/);
  });

  it('refuses foreign senders: other webContents, subframes, foreign origins, vanished frames', async () => {
    const win = await openWindow();
    const handle = vi.spyOn(session, 'handle');
    const forbidden = { ok: false, error: { code: 'forbidden', message: expect.any(String) } };
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});

    const stranger = new MockWebContents();
    await stranger.loadURL(APP_START_URL);
    expect(await invokeMain(IPC_CHANNELS.invoke, stranger, undefined, 'app.info', {})).toEqual(forbidden);

    const iframe = new MockWebFrameMain(APP_START_URL, win.webContents.mainFrame.processId);
    expect(await invokeMain(IPC_CHANNELS.invoke, win.webContents, iframe, 'app.info', {})).toEqual(forbidden);

    expect(await invokeMain(IPC_CHANNELS.invoke, win.webContents, null, 'app.info', {})).toEqual(forbidden);

    win.webContents.mainFrame.url = 'https://evil.example/';
    expect(await invokeMain(IPC_CHANNELS.invoke, win.webContents, undefined, 'app.info', {})).toEqual(forbidden);
    expect(await invokeMain(IPC_CHANNELS.pickFolder, win.webContents)).toEqual(forbidden);
    expect(await invokeMain(IPC_CHANNELS.saveFile, win.webContents, undefined, 'x.csv', 'a,b')).toEqual(forbidden);
    win.webContents.mainFrame.url = 'file:///work/dist/renderer/index.html';
    expect(await invokeMain(IPC_CHANNELS.invoke, win.webContents, undefined, 'app.info', {})).toEqual(forbidden);

    win.webContents.mainFrame.url = APP_START_URL;
    win.close();
    expect(await invokeMain(IPC_CHANNELS.invoke, win.webContents, undefined, 'app.info', {})).toEqual(forbidden);

    expect(handle).not.toHaveBeenCalled();
    expect(electron.dialog.showOpenDialog).not.toHaveBeenCalled();
    warn.mockRestore();
  });

  it('picks folders and saves files through native dialogs', async () => {
    const win = await openWindow();
    electron.dialogAnswers.open = { canceled: false, filePaths: ['/data/photos'] };
    expect(await invokeMain(IPC_CHANNELS.pickFolder, win.webContents)).toEqual({ ok: true, result: '/data/photos' });
    electron.dialogAnswers.open = { canceled: true, filePaths: [] };
    expect(await invokeMain(IPC_CHANNELS.pickFolder, win.webContents)).toEqual({ ok: true, result: null });

    const out = join(tmp, 'saved.csv');
    electron.dialogAnswers.save = { canceled: false, filePath: out };
    expect(await invokeMain(IPC_CHANNELS.saveFile, win.webContents, undefined, '../../labels.csv', 'path,label\r\n')).toEqual({ ok: true, result: out });
    expect(await readFile(out, 'utf8')).toBe('path,label\r\n');
    const [, opts] = electron.dialog.showSaveDialog.mock.calls.at(-1)! as [unknown, { defaultPath: string }];
    expect(opts.defaultPath).toMatch(/[\\/]labels\.csv$/);
    expect(opts.defaultPath).not.toContain('..');
    // Without text: only the chosen path (the renderer then asks export.csv to write there).
    expect(await invokeMain(IPC_CHANNELS.saveFile, win.webContents, undefined, 'labels.csv')).toEqual({ ok: true, result: out });
    const bad = (await invokeMain(IPC_CHANNELS.saveFile, win.webContents, undefined, { evil: 1 }, 'x')) as IpcReply;
    expect(bad.ok === false && bad.error.code).toBe('bad_request');
    electron.dialogAnswers.save = { canceled: true, filePath: '' };
  });

  it('broadcasts session events to the app windows only', async () => {
    const win = await openWindow();
    const ev: ApiEvent = { type: 'log', jobId: 'j1', line: 'hello' };
    (session as unknown as { emit(e: ApiEvent): void }).emit(ev);
    expect(win.webContents.send).toHaveBeenCalledWith(IPC_CHANNELS.event, ev);
  });
});

describe('app protocol', () => {
  let root: string;
  let renderer: string;
  let dataset: string;
  let handler: (r: Request) => Promise<Response>;
  beforeAll(async () => {
    root = await mkdtemp(join(tmp, 'proto-'));
    renderer = join(root, 'renderer');
    dataset = join(root, 'dataset');
    await mkdir(join(renderer, 'assets'), { recursive: true });
    await mkdir(join(dataset, 'sub'), { recursive: true });
    await writeFile(join(renderer, 'index.html'), '<!doctype html><title>x</title>');
    await writeFile(join(renderer, 'assets', 'app.js'), 'console.log(1)');
    await writeFile(join(root, 'secret.txt'), 'top secret');
    await sharp({ create: { width: 400, height: 200, channels: 3, background: '#f00' } }).png().toFile(join(dataset, 'sub', 'red.png'));
    await sharp({ create: { width: 20, height: 20, channels: 3, background: '#0f0' } }).png().toFile(join(root, 'outside.png'));
    await symlink(join(root, 'outside.png'), join(dataset, 'link.png'));
    await symlink(root, join(dataset, 'up'));
    handler = createProtocolHandler({ rendererDir: renderer, imagePath: (rel) => resolveInside(dataset, rel) });
  });
  const get = (url: string): Promise<Response> => handler(new Request(url));

  it('registers clusterlens: as a privileged standard, secure scheme and serves it', () => {
    registerAppScheme();
    expect(recorded.privilegedSchemes).toEqual([expect.objectContaining({ scheme: 'clusterlens', privileges: expect.objectContaining({ standard: true, secure: true }) })]);
  });

  it('serves the renderer with a script-src self CSP, and nothing outside it', async () => {
    const index = await get('clusterlens://app/');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect(index.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-eval');
    expect((await get('clusterlens://app/assets/app.js')).headers.get('content-type')).toMatch(/javascript/);
    for (const url of ['clusterlens://app/..%2Fsecret.txt', 'clusterlens://app/%2e%2e/secret.txt', 'clusterlens://app/assets/..%2F..%2Fsecret.txt', 'clusterlens://app/nope.html', 'clusterlens://app/assets']) {
      const r = await get(url);
      expect(r.status, url).toBeGreaterThanOrEqual(400);
      expect(await r.text(), url).not.toContain('secret');
    }
    expect((await get('clusterlens://elsewhere/index.html')).status).toBe(404);
    expect((await handler(new Request('clusterlens://app/index.html', { method: 'POST', body: 'x' }))).status).toBe(405);
  });

  it('serves dataset images and thumbnails, refusing ../ and symlink escapes', async () => {
    const img = await get('clusterlens://image/?path=sub%2Fred.png');
    expect(img.status).toBe(200);
    expect(img.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await img.arrayBuffer())).toEqual(await readFile(join(dataset, 'sub', 'red.png')));

    const thumb = await get('clusterlens://image/?path=sub%2Fred.png&thumb=1');
    expect(thumb.status).toBe(200);
    const meta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
    expect(Math.max(meta.width!, meta.height!)).toBeLessThanOrEqual(160);

    for (const rel of ['../outside.png', 'sub/../../outside.png', 'link.png', 'up/outside.png', 'up/secret.txt', '/etc/passwd', join(root, 'outside.png')]) {
      const r = await get(`clusterlens://image/?path=${encodeURIComponent(rel)}`);
      expect(r.status, rel).toBe(403);
    }
    expect((await get('clusterlens://image/?path=missing.png')).status).toBe(404);
    expect((await get('clusterlens://image/')).status).toBe(404);
    expect((await get('clusterlens://image/other?path=sub%2Fred.png')).status).toBe(404);
  });

  it('answers 404 for images while the session has no project', async () => {
    const viaSession = createProtocolHandler({ rendererDir: renderer, imagePath: (rel) => session.imagePath(rel) });
    expect((await viaSession(new Request('clusterlens://image/?path=sub%2Fred.png'))).status).toBe(404);
  });
});

describe('preload (the bundled preload.cjs)', () => {
  let bundle: string;
  beforeAll(async () => {
    bundle = await readFile(await buildPreload({ outfile: join(tmp, 'preload.cjs') }), 'utf8');
  });

  /** Run the bundle like a sandboxed renderer does: CommonJS, and `require` knows only 'electron'. */
  function runPreload(): { required: string[] } {
    const required: string[] = [];
    const module = { exports: {} };
    const requireStub = (id: string): unknown => {
      required.push(id);
      if (id !== 'electron') throw new Error(`module not found in a sandboxed preload: ${id}`);
      return electron;
    };
    runInNewContext(bundle, { require: requireStub, module, exports: module.exports, console, Promise, Error, TypeError, encodeURIComponent });
    return { required };
  }

  it('requires only electron and exposes exactly clusterlens and clusterlensNative, with exactly their functions', () => {
    const { required } = runPreload();
    expect(new Set(required)).toEqual(new Set(['electron']));
    expect([...recorded.exposed.keys()].sort()).toEqual(['clusterlens', 'clusterlensNative']);
    expect(Object.keys(recorded.exposed.get('clusterlens') as object).sort()).toEqual(['imageUrl', 'invoke', 'onEvent']);
    expect(Object.keys(recorded.exposed.get('clusterlensNative') as object).sort()).toEqual(['onMenu', 'pickFolder', 'saveFile']);
    for (const v of recorded.exposed.values()) for (const f of Object.values(v as object)) expect(typeof f).toBe('function');
  });

  it('round-trips through main: invoke reaches the real Session, errors become Errors with the message and code', async () => {
    const dispose = setupIpc(session);
    const win = await openWindow();
    electron.ipcRenderer.invoke.mockImplementation((channel: string, ...args: unknown[]) => invokeMain(channel, win.webContents, undefined, ...args));
    runPreload();
    const api = recorded.exposed.get('clusterlens') as ClusterlensApi;
    const info = await api.invoke('app.info', {});
    expect(info.mode).toBe('electron');
    const err = (await api.invoke('project.state', {}).catch((e: unknown) => e)) as Error & { code?: string };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('no_project');
    expect(err.message).toMatch(/no project/);
    expect(api.imageUrl('a b/c&d.png', true)).toBe('clusterlens://image/?path=a%20b%2Fc%26d.png&thumb=1');
    expect(api.imageUrl('x.png')).toBe('clusterlens://image/?path=x.png');
    dispose();
  });

  it('delivers events and menu commands as payloads only, and unsubscribes', () => {
    runPreload();
    const api = recorded.exposed.get('clusterlens') as ClusterlensApi;
    const native = recorded.exposed.get('clusterlensNative') as { onMenu(l: (m: unknown) => void): () => void };
    const events: unknown[] = [];
    const menus: unknown[] = [];
    const off = api.onEvent((e) => events.push(e));
    const offMenu = native.onMenu((m) => menus.push(m));
    const ev = { type: 'log', jobId: 'j', line: 'x' };
    electron.ipcRenderer.emit(IPC_CHANNELS.event, { sender: 'secret' }, ev);
    electron.ipcRenderer.emit(IPC_CHANNELS.menu, {}, { command: 'undo' });
    electron.ipcRenderer.emit(IPC_CHANNELS.menu, {}, { command: 'rm -rf' });
    expect(events).toEqual([ev]);
    expect(menus).toEqual([{ command: 'undo' }]);
    off();
    offMenu();
    electron.ipcRenderer.emit(IPC_CHANNELS.event, {}, ev);
    expect(events).toHaveLength(1);
    expect(electron.ipcRenderer.listenerCount(IPC_CHANNELS.event)).toBe(0);
  });
});

describe('menu', () => {
  it('has File/Edit/View/Help and forwards commands to the focused app window', async () => {
    const win = await openWindow();
    setupMenu({ isDev: false, platform: 'linux' });
    const template = recorded.applicationMenu!.template as { label?: string; role?: string; submenu?: { label?: string; role?: string; click?: () => void }[] }[];
    expect(template.map((m) => m.label ?? m.role)).toEqual(['File', 'Edit', 'View', 'help']);
    const file = template[0]!.submenu!;
    expect(file.map((i) => i.label ?? i.role).filter(Boolean)).toEqual(['Open Project…', 'Open Folder…', 'Try Demo', 'Export CSV…', 'quit']);
    file.find((i) => i.label === 'Export CSV…')!.click!();
    expect(win.webContents.send).toHaveBeenCalledWith(IPC_CHANNELS.menu, { command: 'export-csv' });
    template[1]!.submenu!.find((i) => i.label === 'Undo Label Edit')!.click!();
    expect(win.webContents.send).toHaveBeenCalledWith(IPC_CHANNELS.menu, { command: 'undo' });
    const roles = (t: ReturnType<typeof menuTemplate>) => JSON.stringify(t);
    expect(roles(menuTemplate({ isDev: false, platform: 'linux' }))).not.toContain('toggleDevTools');
    expect(roles(menuTemplate({ isDev: true, platform: 'linux' }))).toContain('toggleDevTools');
    expect(menuTemplate({ isDev: false, platform: 'darwin' })[0]!.label).toBe('Clusterlens');
  });
});

describe('main entry', () => {
  it('wires protocol, IPC, menu and one window on ready; single instance; quits when windows close (not on macOS)', async () => {
    process.env.CLUSTERLENS_CACHE = recorded.userData;
    const { main, onReady } = await import('../../src/main/electron.js');
    // main() registers the scheme and lifecycle; readiness is driven here with a renderer build of our own.
    electron.app.whenReady.mockReturnValueOnce(new Promise(() => {}));
    main();
    const rendererDir = await mkdtemp(join(tmp, 'renderer-'));
    await expect(onReady({ rendererDir })).rejects.toThrow(/not built/);
    await writeFile(join(rendererDir, 'index.html'), '<!doctype html>');
    await onReady({ rendererDir });
    expect(recorded.windows.filter((w) => !w.isDestroyed())).toHaveLength(1);
    expect(electron.app.requestSingleInstanceLock).toHaveBeenCalled();
    expect(recorded.privilegedSchemes.map((s) => s.scheme)).toContain('clusterlens');
    expect([...recorded.protocolHandlers.keys()]).toEqual(['clusterlens']);
    expect([...recorded.ipcHandlers.keys()].sort()).toEqual([IPC_CHANNELS.invoke, IPC_CHANNELS.pickFolder, IPC_CHANNELS.saveFile].sort());
    expect(recorded.applicationMenu).not.toBeNull();
    expect(recorded.permissionRequestHandler).not.toBeNull();
    const answer = vi.fn();
    recorded.permissionRequestHandler!({}, 'media', answer);
    expect(answer).toHaveBeenCalledWith(false);

    // The protocol handler serves through the app's own session (no project → 404).
    const res = await recorded.protocolHandlers.get('clusterlens')!(new Request('clusterlens://image/?path=a.png'));
    expect(res.status).toBe(404);

    electron.app.emit('window-all-closed');
    expect(electron.app.quit).toHaveBeenCalledTimes(process.platform === 'darwin' ? 0 : 1);

    // will-quit closes the session once, then quits again.
    electron.app.quit.mockClear();
    const quitEvent = electron.preventableEvent();
    electron.app.emit('will-quit', quitEvent);
    expect(quitEvent.defaultPrevented).toBe(true);
    await vi.waitFor(() => expect(electron.app.quit).toHaveBeenCalledTimes(1));
    const second = electron.preventableEvent();
    electron.app.emit('will-quit', second);
    expect(second.defaultPrevented).toBe(false);
  });

  it('leaves when another instance holds the lock', async () => {
    electron.app.requestSingleInstanceLock.mockReturnValueOnce(false);
    const { main } = await import('../../src/main/electron.js');
    main();
    expect(electron.app.quit).toHaveBeenCalled();
    expect(electron.app.whenReady).not.toHaveBeenCalled();
  });
});
