/**
 * The local HTTP transport: serves the renderer to an ordinary browser and carries the API (src/shared/api.ts).
 * node:http only, bound to 127.0.0.1, one random token per run.
 *
 * Protocol (what the browser client in src/renderer codes against):
 *   every request      the token as `?token=` or header `x-clusterlens-token` (else 403 forbidden), and a Host
 *                      header of 127.0.0.1:PORT or localhost:PORT (else 403: DNS rebinding). Static renderer files
 *                      (GET only) also accept the `clusterlens_token_<PORT>` cookie, set (HttpOnly, SameSite=Strict) when
 *                      the page is loaded with ?token=, so that <script src> and <link href> need no token.
 *   POST /api/<method> JSON body = params → 200 {ok:true,result} | 4xx/5xx {ok:false,error:{code,message}}
 *   GET  /api/events   Server-Sent Events: `data: <ApiEvent JSON>\n\n`; a `: ping` comment every 15 s
 *   GET  /image?path=<relative path>[&thumb=1]   an image of the open project's dataset (thumb: 96×96 PNG)
 *   GET  /, /index.html, other files under rendererDir
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { IMAGE_TYPES, ImageReader, STATIC_TYPES } from './media.js';
import { PACKAGE_ROOT } from '../core/demo.js';
import { ApiError, ERROR_STATUS, toApiError, type Session } from './session.js';
import { PathGuardError, resolveInside } from './path-guard.js';

/**
 * Content-Security-Policy of every response. plotly's scattergl may need more (e.g. `worker-src blob:`); change
 * it here and only here.
 */
export const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'";

export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};

export const TOKEN_HEADER = 'x-clusterlens-token';
export const TOKEN_COOKIE = 'clusterlens_token';
export const MAX_BODY_BYTES = 64 * 1024 * 1024;
const PING_MS = 15_000;

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Clusterlens</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>Clusterlens</h1>
<p>The user interface is not built yet. Run <code>npm run build</code> in the Clusterlens folder, then start the server again.</p>
<p>The API is up: <code>POST /api/&lt;method&gt;</code>, events at <code>/api/events</code>.</p>
</body></html>
`;

export interface ServerOptions {
  session: Session;
  /** 0 (default) = a free port. */
  port?: number;
  host?: string;
  /** Folder with the built renderer (index.html …); default <package>/dist/renderer. */
  rendererDir?: string;
  /** Where internal errors are logged (default stderr). */
  log?: (line: string) => void;
}

export interface RunningServer {
  /** http://127.0.0.1:PORT/?token=TOKEN */
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiError['code'],
    message: string,
  ) {
    super(message);
  }
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieValue(req: IncomingMessage, name: string): string | undefined {
  const raw = req.headers.cookie;
  if (!raw) return undefined;
  for (const part of raw.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { session } = opts;
  const host = opts.host ?? '127.0.0.1';
  const rendererDir = opts.rendererDir ?? join(PACKAGE_ROOT, 'dist', 'renderer');
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const token = randomBytes(24).toString('hex');
  const images = new ImageReader();
  const streams = new Set<ServerResponse>();
  let port = 0;

  const send = (res: ServerResponse, status: number, headers: Record<string, string | number>, body?: string | Buffer) => {
    if (res.headersSent) {
      res.end();
      return;
    }
    res.writeHead(status, { ...SECURITY_HEADERS, ...headers });
    res.end(body);
  };
  const sendJson = (res: ServerResponse, status: number, value: unknown) => {
    const body = JSON.stringify(value);
    send(res, status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) }, body);
  };
  const sendError = (res: ServerResponse, status: number, code: ApiError['code'], message: string) => sendJson(res, status, { ok: false, error: { code, message } });

  const readBody = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve, reject) => {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > MAX_BODY_BYTES) {
        reject(new HttpError(413, 'bad_request', `request body too large (limit ${MAX_BODY_BYTES / 1024 / 1024} MB)`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      req.on('data', (c: Buffer) => {
        if (failed) return;
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          failed = true;
          reject(new HttpError(413, 'bad_request', `request body too large (limit ${MAX_BODY_BYTES / 1024 / 1024} MB)`));
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (!failed) resolve(Buffer.concat(chunks).toString('utf8'));
      });
      req.on('error', (e) => {
        if (!failed) reject(e);
      });
    });

  const handleApi = async (req: IncomingMessage, res: ServerResponse, method: string) => {
    if (req.method !== 'POST') throw new HttpError(405, 'bad_request', `use POST for /api/${method}`);
    const text = await readBody(req);
    let params: unknown = {};
    if (text.trim() !== '') {
      try {
        params = JSON.parse(text);
      } catch {
        throw new HttpError(400, 'bad_request', 'the request body is not valid JSON');
      }
    }
    try {
      const result = await session.handle(method, params);
      sendJson(res, 200, { ok: true, result });
    } catch (e) {
      const err = toApiError(e);
      if (err.code === 'internal') log(`internal error in ${method}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      sendError(res, ERROR_STATUS[err.code], err.code, err.message);
    }
  };

  const handleEvents = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write(': connected\n\n');
    streams.add(res);
    const off = session.onEvent((e) => res.write(`data: ${JSON.stringify(e)}\n\n`));
    const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
    ping.unref();
    const stop = () => {
      clearInterval(ping);
      off();
      streams.delete(res);
    };
    req.on('close', stop);
    res.on('close', stop);
  };

  const handleImage = async (res: ServerResponse, url: URL, head: boolean) => {
    const rel = url.searchParams.get('path');
    if (!rel) throw new HttpError(400, 'bad_request', 'missing ?path=');
    if (!IMAGE_TYPES[extname(rel).toLowerCase()]) throw new HttpError(403, 'forbidden', 'not an image file');
    const file = await session.imagePath(rel);
    const thumb = url.searchParams.get('thumb') === '1' || url.searchParams.get('thumb') === 'true';
    let image: { body: Buffer; type: string } | undefined;
    try {
      image = await images.read(file, thumb);
    } catch (e) {
      if (e instanceof PathGuardError) throw e;
      throw new HttpError(415, 'bad_request', 'the image could not be read');
    }
    if (!image) throw new HttpError(403, 'forbidden', 'not an image file');
    const { body, type: contentType } = image;
    send(res, 200, { 'Content-Type': contentType, 'Content-Length': body.length, 'Cache-Control': 'private, max-age=300' }, head ? undefined : body);
  };

  const handleStatic = async (req: IncomingMessage, res: ServerResponse, url: URL, head: boolean) => {
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      throw new HttpError(400, 'bad_request', 'malformed path');
    }
    rel = rel.replace(/^\/+/, '');
    if (rel === '') rel = 'index.html';
    const isIndex = rel === 'index.html';
    const headers: Record<string, string | number> = {};
    if (isIndex && url.searchParams.get('token')) {
      // Cookies are per host, not per port: the name carries the port so two servers do not overwrite each other's.
      headers['Set-Cookie'] = `${TOKEN_COOKIE}_${port}=${token}; Path=/; HttpOnly; SameSite=Strict`;
    }
    if (isIndex && !existsSync(join(rendererDir, 'index.html'))) {
      send(res, 200, { ...headers, 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }, head ? undefined : NOT_BUILT_PAGE);
      return;
    }
    const file = await resolveInside(rendererDir, rel);
    const body = await readFile(file);
    const type = STATIC_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    send(res, 200, { ...headers, 'Content-Type': type, 'Content-Length': body.length, 'Cache-Control': 'no-cache' }, head ? undefined : body);
  };

  const server = createServer((req, res) => {
    void (async () => {
      try {
        const hostHeader = (req.headers.host ?? '').toLowerCase();
        const allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `${host.toLowerCase()}:${port}`]);
        if (!allowedHosts.has(hostHeader)) throw new HttpError(403, 'forbidden', 'unexpected Host header');
        const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
        const given = url.searchParams.get('token') ?? (req.headers[TOKEN_HEADER] as string | undefined);
        const isGet = req.method === 'GET' || req.method === 'HEAD';
        const isStatic = isGet && !url.pathname.startsWith('/api/') && url.pathname !== '/image';
        const cookie = isStatic ? cookieValue(req, `${TOKEN_COOKIE}_${port}`) : undefined;
        if (!((given && sameToken(given, token)) || (cookie && sameToken(cookie, token)))) {
          throw new HttpError(403, 'forbidden', 'missing or wrong token: open the URL the server printed');
        }
        if (url.pathname.startsWith('/api/')) {
          const method = url.pathname.slice('/api/'.length);
          if (method === 'events') {
            if (!isGet) throw new HttpError(405, 'bad_request', 'use GET for /api/events');
            handleEvents(req, res);
            return;
          }
          await handleApi(req, res, method);
          return;
        }
        if (!isGet) throw new HttpError(405, 'bad_request', `${req.method} is not allowed here`);
        if (url.pathname === '/image') await handleImage(res, url, req.method === 'HEAD');
        else await handleStatic(req, res, url, req.method === 'HEAD');
      } catch (e) {
        if (e instanceof HttpError) sendError(res, e.status, e.code, e.message);
        else if (e instanceof PathGuardError) sendError(res, e.status, e.code, e.message);
        else {
          const err = toApiError(e);
          if (err.code === 'internal') log(`internal error for ${req.method} ${(req.url ?? '').split('?')[0]}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
          sendError(res, ERROR_STATUS[err.code], err.code, err.message);
        }
        // A request body we refused to read: drain it so the connection stays usable.
        if (!req.readableEnded) req.resume();
      }
    })();
  });
  server.headersTimeout = 30_000;
  server.requestTimeout = 0; // SSE streams stay open

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const urlHost = host === '::1' ? '[::1]' : host;

  return {
    url: `http://${urlHost}:${port}/?token=${token}`,
    port,
    token,
    close: async () => {
      for (const s of streams) s.end();
      streams.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
