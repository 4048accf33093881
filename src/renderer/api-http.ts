/**
 * Browser transport for the ClusterlensApi: `POST /api/<method>` for requests, Server-Sent Events for events,
 * and plain URLs for images. Every request carries the session token the page was opened with.
 */
import type { ApiErrorShape, ApiEvent, ApiMethod, ApiResults, ClusterlensApi, ParamsOf } from '../shared/api.js';

/** A request that the backend answered with `{ ok: false }` (or that never reached it). */
export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorShape['code'] | 'network',
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface HttpApiOptions {
  /** Origin + path prefix of the server; default: the page's origin. */
  base?: string;
  /** Session token; default: `?token=` of the page URL. */
  token?: string;
}

type Envelope<T> = { ok: true; result: T } | { ok: false; error: ApiErrorShape };

export function tokenFromLocation(search: string): string {
  return new URLSearchParams(search).get('token') ?? '';
}

export function createHttpApi(opts: HttpApiOptions = {}): ClusterlensApi {
  const base = (opts.base ?? location.origin).replace(/\/$/, '');
  const token = opts.token ?? tokenFromLocation(location.search);
  const q = `token=${encodeURIComponent(token)}`;
  const listeners = new Set<(event: ApiEvent) => void>();
  let source: EventSource | null = null;

  function openEvents(): void {
    if (source) return;
    source = new EventSource(`${base}/api/events?${q}`);
    source.onmessage = (msg: MessageEvent<string>) => {
      let event: ApiEvent;
      try {
        event = JSON.parse(msg.data) as ApiEvent;
      } catch {
        return; // not ours (e.g. a keep-alive comment)
      }
      for (const l of [...listeners]) {
        try {
          l(event);
        } catch (err) {
          console.error('event listener failed', err);
        }
      }
    };
    // EventSource reconnects on its own after a dropped connection.
  }

  return {
    async invoke<M extends ApiMethod>(method: M, params: ParamsOf<M>): Promise<ApiResults[M]> {
      let res: Response;
      try {
        res = await fetch(`${base}/api/${method}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-clusterlens-token': token },
          body: JSON.stringify(params ?? {}),
        });
      } catch {
        throw new ApiError('network', 'Cannot reach the Clusterlens server — is it still running?');
      }
      let body: Envelope<ApiResults[M]>;
      try {
        body = (await res.json()) as Envelope<ApiResults[M]>;
      } catch {
        throw new ApiError('internal', `The server answered ${res.status} ${res.statusText} without a result`);
      }
      if (!body.ok) throw new ApiError(body.error?.code ?? 'internal', body.error?.message ?? 'request failed');
      return body.result;
    },
    onEvent(listener) {
      listeners.add(listener);
      openEvents();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && source) {
          source.close();
          source = null;
        }
      };
    },
    imageUrl(path, thumb) {
      return `${base}/image?path=${encodeURIComponent(path)}${thumb ? '&thumb=1' : ''}&${q}`;
    },
  };
}
