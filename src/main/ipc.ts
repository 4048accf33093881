/**
 * The Electron transport of the API: one invoke channel forwarded to the session, one event channel
 * broadcast to the app's windows, and the native extras (folder picker, save dialog).
 *
 * Every handler first checks who is asking: the sender must be one of our windows' webContents, the message
 * must come from its main frame, and that frame must show our own origin (`clusterlens://app`). Anything else
 * (a devtools page, an iframe, a page that somehow navigated away) gets `forbidden` and the session never sees it.
 * Replies are always `{ ok: true, result }` or `{ ok: false, error: { code, message } }`: no Error objects,
 * no stacks cross the bridge.
 */
import { BrowserWindow, app, dialog, ipcMain, type IpcMainInvokeEvent } from 'electron';
import { basename, join } from 'node:path';
import type { ApiEvent, ApiErrorShape } from '../shared/api.js';
import { ApiParams } from '../shared/api.js';
import { writeFileAtomic } from '../core/fsutil.js';
import { IPC_CHANNELS, type IpcReply } from '../preload/contract.js';
import { isAppUrl } from './protocol.js';
import { isAppWebContents, sendToAppWindows } from './window.js';

/** What the IPC layer needs from the backend's Session. */
export interface SessionPort {
  handle(method: string, params: unknown): Promise<unknown>;
  onEvent(listener: (event: ApiEvent) => void): () => void;
}

const ERROR_CODES: readonly ApiErrorShape['code'][] = ['bad_request', 'not_found', 'no_project', 'busy', 'forbidden', 'internal'];
/** Largest text the save dialog writes (an exported CSV of a million rows is well below). */
const MAX_SAVE_BYTES = 512 * 1024 * 1024;

/** Why `event` is not from our app's main frame, or null when it is. */
export function rejectSender(event: IpcMainInvokeEvent): string | null {
  const wc = event.sender;
  if (!isAppWebContents(wc)) return 'not one of the app windows';
  const frame = event.senderFrame;
  if (!frame) return 'the sending frame is gone';
  const main = wc.mainFrame;
  if (frame !== main && (frame.processId !== main.processId || frame.routingId !== main.routingId)) return 'not the main frame';
  if (!isAppUrl(frame.url)) return 'not the app origin';
  return null;
}

/** `{ code, message }` for any thrown value: the session's own codes pass through, the rest is `internal`. */
export function toErrorShape(e: unknown): ApiErrorShape {
  const o = typeof e === 'object' && e !== null ? (e as { code?: unknown; message?: unknown }) : {};
  const code = ERROR_CODES.includes(o.code as ApiErrorShape['code']) ? (o.code as ApiErrorShape['code']) : 'internal';
  const raw = typeof o.message === 'string' && o.message ? o.message : typeof e === 'string' ? e : 'unexpected error';
  return { code, message: raw.split('\n')[0]!.slice(0, 1000) };
}

type Handler = (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<unknown>;

/** Register `handler` on `channel` behind the sender check and the reply envelope. */
function handleChecked(channel: string, handler: Handler): void {
  ipcMain.handle(channel, async (event, ...args): Promise<IpcReply> => {
    const why = rejectSender(event);
    if (why) {
      console.warn(`clusterlens: refused ${channel} from ${event.senderFrame?.url ?? 'an unknown frame'}: ${why}`);
      return { ok: false, error: { code: 'forbidden', message: 'this page may not use the Clusterlens API' } };
    }
    try {
      return { ok: true, result: await handler(event, ...args) };
    } catch (e) {
      return { ok: false, error: toErrorShape(e) };
    }
  });
}

function badRequest(message: string): Error & { code: 'bad_request' } {
  return Object.assign(new Error(message), { code: 'bad_request' as const });
}

/**
 * Wire the session to IPC. Returns a function that removes every handler and the event subscription
 * (used by tests and on quit).
 */
export function setupIpc(session: SessionPort): () => void {
  handleChecked(IPC_CHANNELS.invoke, async (_event, method, params) => {
    if (typeof method !== 'string' || !Object.hasOwn(ApiParams, method)) {
      throw badRequest(`unknown method ${typeof method === 'string' ? JSON.stringify(method.slice(0, 100)) : typeof method}`);
    }
    return session.handle(method, params ?? {});
  });

  handleChecked(IPC_CHANNELS.pickFolder, async (event) => {
    const win = BrowserWindow.fromWebContents(event.sender);
    const options: Electron.OpenDialogOptions = { title: 'Choose a folder', properties: ['openDirectory', 'createDirectory'] };
    const res = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
    return res.canceled || res.filePaths.length === 0 ? null : res.filePaths[0];
  });

  handleChecked(IPC_CHANNELS.saveFile, async (event, name, text) => {
    if (typeof name !== 'string' || (text !== undefined && typeof text !== 'string')) throw badRequest('saveFile needs (name: string, text?: string)');
    if (typeof text === 'string' && Buffer.byteLength(text, 'utf8') > MAX_SAVE_BYTES) throw badRequest('the file is too large to save');
    const suggested = [...basename(name.replace(/\\/g, '/'))].filter((c) => c >= ' ').join('').slice(0, 200) || 'labels.csv';
    const win = BrowserWindow.fromWebContents(event.sender);
    const options: Electron.SaveDialogOptions = {
      title: 'Save',
      defaultPath: join(app.getPath('documents'), suggested),
      filters: suggested.toLowerCase().endsWith('.csv')
        ? [{ name: 'CSV', extensions: ['csv'] }, { name: 'All files', extensions: ['*'] }]
        : [{ name: 'All files', extensions: ['*'] }],
      properties: ['createDirectory', 'showOverwriteConfirmation'],
    };
    const res = win ? await dialog.showSaveDialog(win, options) : await dialog.showSaveDialog(options);
    if (res.canceled || !res.filePath) return null;
    if (typeof text === 'string') await writeFileAtomic(res.filePath, text);
    return res.filePath;
  });

  const unsubscribe = session.onEvent((e) => sendToAppWindows(IPC_CHANNELS.event, e));

  return () => {
    unsubscribe();
    ipcMain.removeHandler(IPC_CHANNELS.invoke);
    ipcMain.removeHandler(IPC_CHANNELS.pickFolder);
    ipcMain.removeHandler(IPC_CHANNELS.saveFile);
  };
}
