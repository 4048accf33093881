/**
 * The sandboxed preload (bundled to dist/preload/preload.cjs by scripts/build-preload.mjs: sandboxed preloads
 * must be one CommonJS file that requires nothing but `electron`).
 *
 * It exposes exactly two objects to the page, each a handful of functions over fixed channels:
 * - `window.clusterlens` (ClusterlensApi, the same interface the browser client implements);
 * - `window.clusterlensNative` (folder picker, save dialog, menu commands).
 * ipcRenderer itself, channel names as parameters and Electron event objects never reach the page.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { ApiEvent, ApiMethod, ApiResults, ClusterlensApi, ParamsOf } from '../shared/api.js';
import { IPC_CHANNELS, MENU_COMMANDS, type ClusterlensNative, type IpcReply, type MenuMessage } from './contract.js';

/** An Error for the page: the backend's message, with its code (`bad_request`, `no_project`, ...) attached. */
function replyError(error: { code: string; message: string }): Error {
  const e = new Error(error.message) as Error & { code: string };
  e.code = error.code;
  return e;
}

async function call<T>(channel: string, ...args: unknown[]): Promise<T> {
  const reply = (await ipcRenderer.invoke(channel, ...args)) as IpcReply<T> | undefined;
  if (!reply || typeof reply !== 'object') throw replyError({ code: 'internal', message: 'no reply from the app' });
  if (reply.ok) return reply.result;
  throw replyError(reply.error);
}

/** Subscribe `listener` to `channel`, passing only the payload (never the IpcRendererEvent). */
function subscribe<T>(channel: string, listener: (payload: T) => void, accept: (payload: unknown) => payload is T): () => void {
  if (typeof listener !== 'function') throw new TypeError('listener must be a function');
  const wrapped = (_event: IpcRendererEvent, payload: unknown): void => {
    if (accept(payload)) listener(payload);
  };
  ipcRenderer.on(channel, wrapped);
  return () => {
    ipcRenderer.removeListener(channel, wrapped);
  };
}

const isApiEvent = (p: unknown): p is ApiEvent => typeof p === 'object' && p !== null && typeof (p as { type?: unknown }).type === 'string';
const isMenuMessage = (p: unknown): p is MenuMessage =>
  typeof p === 'object' && p !== null && (MENU_COMMANDS as readonly unknown[]).includes((p as { command?: unknown }).command);

export const api: ClusterlensApi = {
  invoke<M extends ApiMethod>(method: M, params: ParamsOf<M>): Promise<ApiResults[M]> {
    return call<ApiResults[M]>(IPC_CHANNELS.invoke, method, params);
  },
  onEvent(listener: (event: ApiEvent) => void): () => void {
    return subscribe(IPC_CHANNELS.event, listener, isApiEvent);
  },
  imageUrl(path: string, thumb?: boolean): string {
    return `clusterlens://image/?path=${encodeURIComponent(path)}${thumb ? '&thumb=1' : ''}`;
  },
};

export const native: ClusterlensNative = {
  pickFolder(): Promise<string | null> {
    return call<string | null>(IPC_CHANNELS.pickFolder);
  },
  saveFile(nameOrOptions: string | { defaultName: string }, text?: string): Promise<string | null> {
    const name = typeof nameOrOptions === 'string' ? nameOrOptions : nameOrOptions?.defaultName;
    // Without text: only ask where (the caller then writes there itself, e.g. `export.csv` with `out`).
    return text === undefined ? call<string | null>(IPC_CHANNELS.saveFile, name) : call<string | null>(IPC_CHANNELS.saveFile, name, text);
  },
  onMenu(listener: (message: MenuMessage) => void): () => void {
    return subscribe(IPC_CHANNELS.menu, listener, isMenuMessage);
  },
};

contextBridge.exposeInMainWorld('clusterlens', api);
contextBridge.exposeInMainWorld('clusterlensNative', native);
