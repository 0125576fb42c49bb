/**
 * Serves the web UI (the single-page app built from `web/` into `dist/ui/` by `npm run build`)
 * at `/`. Hashed files under `/assets/` are immutable; everything else (index.html, and any
 * unknown GET path that is not an API, OCI or Helm path, so that client-side routes load) is
 * revalidated on every load. The UI talks to `/api/v1` only.
 *
 * Registered on the root instance: its not-found handler is the SPA fallback, and the API keeps
 * its own not-found handler for `/api/v1/*`.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** `dist/ui/` of the checkout, from `src/web/` (tsx) and from `dist/web/` (compiled) alike. */
export const UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** Paths that belong to other surfaces: never answered with the UI. */
const NOT_UI = /^\/(api|v2|pkg|metrics|healthz|readyz)(\/|$)/;

/**
 * The UI is one bundled script and one stylesheet from `/assets/`, talking to `/api/v1`: nothing
 * inline, nothing from elsewhere (React sets styles through the CSSOM, which `style-src` allows;
 * the favicon is a data: URL). A script injected through some rendered value cannot run.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Pallet</title>
<p>The web UI is not built. Run <code>npm run build</code> (or <code>npm ci</code>), then reload.</p>`;

/** Resolves `urlPath` inside `root`, or undefined when it would escape it. */
function inside(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const file = normalize(join(root, decoded));
  return file.startsWith(root.endsWith(sep) ? root : root + sep) ? file : undefined;
}

async function sendFile(request: FastifyRequest, reply: FastifyReply, file: string, cache: string): Promise<boolean> {
  let info;
  try {
    info = await stat(file);
  } catch {
    return false;
  }
  if (!info.isFile()) return false;
  reply
    .header('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream')
    .header('Content-Length', info.size)
    .header('Cache-Control', cache)
    .header('X-Content-Type-Options', 'nosniff')
    .header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  if (request.method === 'HEAD') {
    await reply.send();
    return true;
  }
  await reply.send(createReadStream(file));
  return true;
}

async function sendIndex(reply: FastifyReply, root: string): Promise<FastifyReply> {
  let html: string;
  try {
    html = await readFile(join(root, 'index.html'), 'utf8');
  } catch {
    html = NOT_BUILT;
  }
  return reply
    .header('Content-Type', 'text/html; charset=utf-8')
    .header('Cache-Control', 'no-cache')
    .header('X-Content-Type-Options', 'nosniff')
    .header('X-Frame-Options', 'DENY')
    .header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
    .header('Referrer-Policy', 'same-origin')
    .send(html);
}

export interface UiOptions {
  /** Folder of the built UI; `dist/ui/` of the checkout by default. */
  root?: string;
}

export function registerUi(server: FastifyInstance, options: UiOptions = {}): void {
  const root = options.root ?? UI_DIR;

  server.route({
    method: ['GET', 'HEAD'],
    url: '/assets/*',
    handler: async (request, reply) => {
      const file = inside(join(root, 'assets'), (request.params as { '*': string })['*']);
      if (file && (await sendFile(request, reply, file, 'public, max-age=31536000, immutable'))) return reply;
      return reply.code(404).header('Cache-Control', 'no-cache').type('text/plain').send('not found');
    },
  });

  server.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    if ((request.method !== 'GET' && request.method !== 'HEAD') || NOT_UI.test(path)) {
      return reply.code(404).send({ message: `Route ${request.method}:${request.url} not found`, error: 'Not Found', statusCode: 404 });
    }
    // A file at the top of the build (favicon, robots.txt) as is; any other path is a UI route.
    const file = path !== '/' && !path.slice(1).includes('/') ? inside(root, path) : undefined;
    if (file && !file.endsWith('index.html') && (await sendFile(request, reply, file, 'no-cache'))) return reply;
    return sendIndex(reply, root);
  });
}
