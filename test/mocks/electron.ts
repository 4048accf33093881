/**
 * One shared mock of the `electron` module for every main-process and preload test:
 *   vi.mock('electron', () => import('../mocks/electron.js'));
 * It records what the code under test asks Electron for (window options, IPC handlers, protocol handlers,
 * dialogs, exposed globals, menus) and offers helpers to act like Chromium (navigate, window.open, IPC from a
 * given frame). Import it directly in the test to reach the same instance: `import * as electron from '../mocks/electron.js'`.
 */
import { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import { vi } from 'vitest';

// ------------------------------------------------------------------------------------------ recording

export interface PreventableEvent {
  defaultPrevented: boolean;
  preventDefault(): void;
}

export function preventableEvent(): PreventableEvent {
  const e = {
    defaultPrevented: false,
    preventDefault() {
      e.defaultPrevented = true;
    },
  };
  return e;
}

type InvokeHandler = (event: unknown, ...args: unknown[]) => unknown;

export const recorded = {
  windows: [] as MockBrowserWindow[],
  ipcHandlers: new Map<string, InvokeHandler>(),
  privilegedSchemes: [] as { scheme: string; privileges?: Record<string, boolean> }[],
  protocolHandlers: new Map<string, (request: Request) => Response | Promise<Response>>(),
  exposed: new Map<string, unknown>(),
  applicationMenu: null as null | { template: unknown[] },
  permissionRequestHandler: null as null | ((...args: unknown[]) => void),
  userData: tmpdir(),
};

/** Forget everything recorded (windows are destroyed); call in beforeEach. */
export function resetElectronMock(): void {
  for (const w of recorded.windows) if (!w.isDestroyed()) w.destroy();
  recorded.windows.length = 0;
  recorded.ipcHandlers.clear();
  recorded.privilegedSchemes.length = 0;
  recorded.protocolHandlers.clear();
  recorded.exposed.clear();
  recorded.applicationMenu = null;
  recorded.permissionRequestHandler = null;
  ipcRenderer.removeAllListeners();
  ipcRenderer.invoke.mockReset();
  app.removeAllListeners();
  vi.clearAllMocks();
}

// ------------------------------------------------------------------------------------------ frames, webContents, windows

let nextId = 1;

export class MockWebFrameMain {
  url: string;
  readonly processId: number;
  readonly routingId: number;
  constructor(url = '', processId = 100, routingId = nextId++) {
    this.url = url;
    this.processId = processId;
    this.routingId = routingId;
  }
  get origin(): string {
    try {
      const u = new URL(this.url);
      return `${u.protocol}//${u.host}`;
    } catch {
      return 'null';
    }
  }
}

export class MockWebContents extends EventEmitter {
  readonly id = nextId++;
  readonly mainFrame = new MockWebFrameMain();
  readonly send = vi.fn((_channel: string, _payload: unknown) => {});
  windowOpenHandler: ((details: { url: string; disposition?: string }) => { action: 'allow' | 'deny' }) | null = null;
  private destroyed = false;

  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'allow' | 'deny' }): void {
    this.windowOpenHandler = handler;
  }
  async loadURL(url: string): Promise<void> {
    this.mainFrame.url = url;
  }
  getURL(): string {
    return this.mainFrame.url;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  destroy(): void {
    this.destroyed = true;
  }

  // --- acting like Chromium

  /** A navigation attempt to `url` (link click, location change); true when the app prevented it. */
  navigate(url: string, event = 'will-navigate'): boolean {
    const e = preventableEvent();
    this.emit(event, e, url);
    if (!e.defaultPrevented) this.mainFrame.url = url;
    return e.defaultPrevented;
  }
  /** `window.open(url)` from the page: what the window-open handler answers ('allow' when there is none). */
  windowOpen(url: string): 'allow' | 'deny' {
    return this.windowOpenHandler ? this.windowOpenHandler({ url, disposition: 'new-window' }).action : 'allow';
  }
}

export class MockBrowserWindow extends EventEmitter {
  readonly options: Record<string, unknown> & { webPreferences?: Record<string, unknown> };
  readonly webContents = new MockWebContents();
  private destroyed = false;
  private maximized = false;
  private minimized = false;
  bounds: { x: number; y: number; width: number; height: number };

  constructor(options: Record<string, unknown> = {}) {
    super();
    this.options = options;
    this.bounds = {
      x: typeof options.x === 'number' ? options.x : 100,
      y: typeof options.y === 'number' ? options.y : 100,
      width: typeof options.width === 'number' ? options.width : 800,
      height: typeof options.height === 'number' ? options.height : 600,
    };
    recorded.windows.push(this);
    app.emit('browser-window-created', {}, this);
  }

  static getAllWindows(): MockBrowserWindow[] {
    return recorded.windows.filter((w) => !w.isDestroyed());
  }
  static getFocusedWindow(): MockBrowserWindow | null {
    return MockBrowserWindow.getAllWindows()[0] ?? null;
  }
  static fromWebContents(wc: unknown): MockBrowserWindow | null {
    return recorded.windows.find((w) => w.webContents === wc) ?? null;
  }

  loadURL(url: string): Promise<void> {
    return this.webContents.loadURL(url);
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  /** Close like a user would: 'close' then 'closed'. */
  close(): void {
    if (this.destroyed) return;
    this.emit('close', preventableEvent());
    this.destroy();
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.webContents.destroy();
    this.emit('closed');
  }
  getNormalBounds(): { x: number; y: number; width: number; height: number } {
    return { ...this.bounds };
  }
  setBounds(b: Partial<MockBrowserWindow['bounds']>): void {
    this.bounds = { ...this.bounds, ...b };
    this.emit('resize');
  }
  isMaximized(): boolean {
    return this.maximized;
  }
  maximize(): void {
    this.maximized = true;
  }
  isMinimized(): boolean {
    return this.minimized;
  }
  restore(): void {
    this.minimized = false;
  }
  show = vi.fn();
  focus = vi.fn();
}
export { MockBrowserWindow as BrowserWindow };

// ------------------------------------------------------------------------------------------ main-process modules

class MockApp extends EventEmitter {
  name = 'Clusterlens';
  isPackaged = false;
  getPath = vi.fn((_name: string) => recorded.userData);
  getAppPath = vi.fn(() => process.cwd());
  getVersion = vi.fn(() => '0.0.0-test');
  setName = vi.fn((n: string) => {
    this.name = n;
  });
  whenReady = vi.fn(() => Promise.resolve());
  isReady = vi.fn(() => true);
  requestSingleInstanceLock = vi.fn(() => true);
  quit = vi.fn();
  exit = vi.fn();
  showAboutPanel = vi.fn();
}
export const app = new MockApp();

export const ipcMain = {
  handle: vi.fn((channel: string, handler: InvokeHandler) => {
    if (recorded.ipcHandlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    recorded.ipcHandlers.set(channel, handler);
  }),
  removeHandler: vi.fn((channel: string) => {
    recorded.ipcHandlers.delete(channel);
  }),
  on: vi.fn(),
  removeAllListeners: vi.fn(),
};

/** An IPC invoke as Electron delivers it: from `sender`'s `frame` (its main frame by default). */
export async function invokeMain(channel: string, sender: MockWebContents, frame: MockWebFrameMain | null = sender.mainFrame, ...args: unknown[]): Promise<unknown> {
  const handler = recorded.ipcHandlers.get(channel);
  if (!handler) throw new Error(`No handler registered for '${channel}'`);
  const event = { sender, senderFrame: frame, processId: frame?.processId ?? 0, frameId: frame?.routingId ?? 0, type: 'frame' };
  return handler(event, ...args);
}

export const protocol = {
  registerSchemesAsPrivileged: vi.fn((schemes: { scheme: string; privileges?: Record<string, boolean> }[]) => {
    recorded.privilegedSchemes.push(...schemes);
  }),
  handle: vi.fn((scheme: string, handler: (request: Request) => Response | Promise<Response>) => {
    recorded.protocolHandlers.set(scheme, handler);
  }),
  unhandle: vi.fn((scheme: string) => {
    recorded.protocolHandlers.delete(scheme);
  }),
  isProtocolHandled: vi.fn((scheme: string) => recorded.protocolHandlers.has(scheme)),
};

/** Dialog results the next calls return; tests set them. */
export const dialogAnswers = {
  open: { canceled: true, filePaths: [] as string[] },
  save: { canceled: true, filePath: '' as string | undefined },
};
export const dialog = {
  showOpenDialog: vi.fn(async (..._args: unknown[]) => dialogAnswers.open),
  showSaveDialog: vi.fn(async (..._args: unknown[]) => dialogAnswers.save),
  showMessageBox: vi.fn(async (..._args: unknown[]) => ({ response: 0, checkboxChecked: false })),
  showErrorBox: vi.fn(),
};

export const shell = {
  openExternal: vi.fn(async (_url: string) => {}),
  openPath: vi.fn(async (_path: string) => ''),
  showItemInFolder: vi.fn(),
};

export const Menu = {
  buildFromTemplate: vi.fn((template: unknown[]) => ({ template })),
  setApplicationMenu: vi.fn((menu: { template: unknown[] } | null) => {
    recorded.applicationMenu = menu;
  }),
};

export const screen = {
  getAllDisplays: vi.fn(() => [{ id: 1, workArea: { x: 0, y: 0, width: 1920, height: 1080 }, bounds: { x: 0, y: 0, width: 1920, height: 1080 } }]),
  getPrimaryDisplay: vi.fn(() => screen.getAllDisplays()[0]),
};

export const session = {
  defaultSession: {
    setPermissionRequestHandler: vi.fn((handler: (...args: unknown[]) => void) => {
      recorded.permissionRequestHandler = handler;
    }),
    setPermissionCheckHandler: vi.fn(),
    webRequest: { onHeadersReceived: vi.fn() },
  },
};

// ------------------------------------------------------------------------------------------ renderer-side modules

export const contextBridge = {
  exposeInMainWorld: vi.fn((key: string, api: unknown) => {
    if (recorded.exposed.has(key)) throw new Error(`Cannot bind an API on top of an existing property on the window object: ${key}`);
    recorded.exposed.set(key, api);
  }),
};

class MockIpcRenderer extends EventEmitter {
  invoke = vi.fn(async (_channel: string, ..._args: unknown[]): Promise<unknown> => {
    throw new Error('ipcRenderer.invoke is not connected in this test');
  });
  send = vi.fn();
}
export const ipcRenderer = new MockIpcRenderer();

export default {
  app,
  BrowserWindow: MockBrowserWindow,
  ipcMain,
  protocol,
  dialog,
  shell,
  Menu,
  screen,
  session,
  contextBridge,
  ipcRenderer,
};
