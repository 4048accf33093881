/** What the page may find on `window`: the preload's API (Electron), optional native helpers, and plotly. */
import type * as PlotlyNS from 'plotly.js';
import type { ClusterlensApi } from '../shared/api.js';

/** Optional native helpers the Electron preload may expose; the browser has none. Feature-detect each. */
export interface ClusterlensNative {
  /** Native folder picker; resolves to the chosen folder, or null when cancelled. */
  pickFolder?(): Promise<string | null>;
  /** Native save dialog; resolves to the chosen file path, or null when cancelled. */
  saveFile?(opts: { defaultName: string }): Promise<string | null>;
}

declare global {
  interface Window {
    clusterlens?: ClusterlensApi;
    clusterlensNative?: ClusterlensNative;
    Plotly?: typeof PlotlyNS;
  }
}

export type Plotly = typeof PlotlyNS;
export type { PlotlyNS };
