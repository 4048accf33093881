/**
 * The Electron-only part of the contract between the main process and the preload: IPC channel names, the
 * reply envelope, menu commands and the native extras exposed as `window.clusterlensNative`.
 *
 * Pure constants and types, no imports: it is bundled into the sandboxed preload (CommonJS) and imported by
 * the main process, so both sides agree on every channel name.
 */

/** Every IPC channel the app uses. Nothing else is sent or handled. */
export const IPC_CHANNELS = {
  /** renderer → main (invoke): one API request `(method, params)` → IpcReply. */
  invoke: 'clusterlens:invoke',
  /** main → renderer: one ApiEvent pushed by the session. */
  event: 'clusterlens:event',
  /** renderer → main (invoke): folder picker → IpcReply<string | null>. */
  pickFolder: 'clusterlens:pick-folder',
  /** renderer → main (invoke): `(suggestedName, text?)` save dialog (+ write when text is given) → IpcReply<string | null>. */
  saveFile: 'clusterlens:save-file',
  /** main → renderer: `{ command }` from the application menu. */
  menu: 'clusterlens:menu',
} as const;

/** How main answers every invoke: never a raw Error (no stack, no internals cross the bridge). */
export type IpcReply<T = unknown> =
  | { ok: true; result: T }
  | { ok: false; error: { code: string; message: string } };

/** Menu items the renderer acts on (the main process only forwards them). */
export const MENU_COMMANDS = ['open-project', 'open-folder', 'demo', 'export-csv', 'undo', 'redo'] as const;
export type MenuCommand = (typeof MENU_COMMANDS)[number];
export interface MenuMessage {
  command: MenuCommand;
}

/** `window.clusterlensNative`: what only the desktop app can do. Absent in the browser build. */
export interface ClusterlensNative {
  /** Show a folder picker; the chosen absolute path, or null when cancelled. */
  pickFolder(): Promise<string | null>;
  /**
   * Show a save dialog proposing a file name (`'labels.csv'` or `{ defaultName: 'labels.csv' }`). With `text`, write
   * it there (atomically); without, only choose (the caller writes, e.g. `export.csv` with `out`). The chosen path,
   * or null when cancelled.
   */
  saveFile(nameOrOptions: string | { defaultName: string }, text?: string): Promise<string | null>;
  /** Listen to application-menu commands; returns the unsubscribe function. */
  onMenu(listener: (message: MenuMessage) => void): () => void;
}
