/**
 * The app's own URL scheme, `clusterlens://`, the only thing the window loads from:
 *
 * - `clusterlens://app/<file>`: the renderer's static files from dist/renderer (index.html for `/`);
 * - `clusterlens://image/?path=<rel>[&thumb=1]`: an image of the open project, resolved by the session
 *   (`Session.imagePath` → `resolveInside`: nothing outside the dataset root, no `..`, no symlink escape);
 * - anything else: 404.
 *
 * A custom scheme rather than file:// gives the page a real origin (so `script-src 'self'` means "our files"
 * and the IPC sender check has an origin to compare) and keeps every other file on disk unreachable.
 */
import { ImageReader, STATIC_TYPES } from './media.js';
import { protocol } from 'electron';
import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { resolveInside } from './path-guard.js';

export const APP_SCHEME = 'clusterlens';
export const APP_HOST = 'app';
export const IMAGE_HOST = 'image';
/** The renderer's origin as the browser serialises it. */
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_START_URL = `${APP_ORIGIN}/index.html`;

/**
 * Content-Security-Policy of every page we serve. `style-src 'unsafe-inline'` because plotly writes inline
 * styles; scripts only from our own files, no eval, no plugins, no frames, no forms, no base-URI tricks.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  `img-src 'self' ${APP_SCHEME}://${IMAGE_HOST} data: blob:`,
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-src 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Register `clusterlens:` as a standard, secure scheme. Must run before `app` is ready. */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true } },
  ]);
}

/** True when `url` is one of our renderer pages (`clusterlens://app/...`): the only origin we trust. */
export function isAppUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST && u.username === '' && u.password === '';
  } catch {
    return false;
  }
}

export interface ProtocolOptions {
  /** Folder holding the renderer build (index.html and its assets). */
  rendererDir: string;
  /** Guarded absolute path of an image of the open project (Session.imagePath); throws when refused. */
  imagePath(rel: string): Promise<string>;
}

/** Serve the app scheme. Call once, after `app` is ready. */
export function setupProtocol(opts: ProtocolOptions): void {
  protocol.handle(APP_SCHEME, createProtocolHandler(opts));
}

/** The request handler behind `setupProtocol`, exported for tests (it needs no Electron). */
export function createProtocolHandler(opts: ProtocolOptions): (request: Request) => Promise<Response> {
  return async (request) => {
    try {
      if (request.method !== 'GET' && request.method !== 'HEAD') return plain(405, 'method not allowed');
      const url = new URL(request.url);
      if (url.protocol !== `${APP_SCHEME}:`) return notFound();
      if (url.host === APP_HOST) return await serveStatic(opts.rendererDir, url, request.method === 'HEAD');
      if (url.host === IMAGE_HOST) return await serveImage(opts, url, request.method === 'HEAD');
      return notFound();
    } catch {
      // Whatever failed (bad URL, unreadable file, decoder error), the page learns nothing but "not here".
      return notFound();
    }
  };
}

async function serveStatic(rendererDir: string, url: URL, head: boolean): Promise<Response> {
  let rel: string;
  try {
    rel = decodeURIComponent(url.pathname).replace(/^\/+/, '');
  } catch {
    return plain(400, 'bad path');
  }
  if (rel === '') rel = 'index.html';
  if (rel.includes('\0') || rel.includes('\\')) return notFound();
  let abs: string;
  try {
    abs = await resolveInside(rendererDir, rel);
  } catch (e) {
    return refused(e);
  }
  const info = await stat(abs).catch(() => null);
  if (!info?.isFile()) return notFound();
  const type = STATIC_TYPES[extname(abs).toLowerCase()] ?? 'application/octet-stream';
  const body = head ? null : await readFile(abs);
  return new Response(body, {
    status: 200,
    headers: {
      'Content-Type': type,
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-cache',
    },
  });
}

const images = new ImageReader();

async function serveImage(opts: ProtocolOptions, url: URL, head: boolean): Promise<Response> {
  if (url.pathname !== '/' && url.pathname !== '') return notFound();
  const rel = url.searchParams.get('path');
  if (!rel || rel.includes('\0')) return notFound();
  const thumb = url.searchParams.get('thumb') === '1';
  let abs: string;
  try {
    abs = await opts.imagePath(rel);
  } catch (e) {
    return refused(e);
  }
  const info = await stat(abs).catch(() => null);
  if (!info?.isFile()) return notFound();
  const image = await images.read(abs, thumb).catch(() => undefined);
  if (!image) return notFound();
  const { body, type } = image;
  return new Response(head ? null : body, {
    status: 200,
    headers: {
      'Content-Type': type,
      'X-Content-Type-Options': 'nosniff',
      // An image is never a document: even if something navigated to it, nothing in it could run.
      'Content-Security-Policy': "default-src 'none'; sandbox",
      'Access-Control-Allow-Origin': APP_ORIGIN,
      'Cache-Control': 'no-cache',
    },
  });
}

/** 403 for a path the guard refused as outside the root, 404 for everything else (missing, no project, ...). */
function refused(e: unknown): Response {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return code === 'forbidden' ? plain(403, 'forbidden') : notFound();
}

function notFound(): Response {
  return plain(404, 'not found');
}

function plain(status: number, text: string): Response {
  return new Response(text, { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' } });
}
