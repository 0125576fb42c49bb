/**
 * A small npm registry on 127.0.0.1 for tests of npm upstream proxies, playing exactly the
 * parts the tests need and counting every request: packuments (full and abbreviated, with an
 * ETag and 304 on If-None-Match; scoped names as `@scope%2fname`), tarballs (optionally
 * corrupted — one byte flipped, length unchanged — or held back), the audit endpoints, and a
 * `down` switch that answers 503 to everything (an upstream that fails), and an optional
 * Authorization every request must carry.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { describeTarball } from './npm.js';

export interface OriginVersion {
  tarball: Buffer;
  manifest: Record<string, unknown>;
}

export interface OriginPackage {
  distTags: Record<string, string>;
  versions: Map<string, OriginVersion>;
}

export interface NpmOrigin {
  url: string;
  packages: Map<string, OriginPackage>;
  /** Adds a version (a fresh gzip tarball unless given) and points `latest` at it unless `tag` says otherwise. */
  add(name: string, version: string, options?: { tag?: string; tarball?: Buffer; manifest?: Record<string, unknown> }): OriginVersion;
  /** Requests so far: `packument <name>`, `tarball <file>`, `audit <endpoint>`, `unauthorized`. */
  count(what: string): number;
  /** Answers 503 to everything while true. */
  down: boolean;
  /** Tarball file names whose bodies are corrupted. */
  corrupt: Set<string>;
  /** Holds tarball answers back this long (ms). */
  tarballDelayMs: number;
  /** What the audit endpoints answer (undefined: 404). */
  auditAnswer: unknown;
  /** When set, every request must carry exactly this Authorization header (else 401). */
  requiredAuth: string | undefined;
  /** Headers of the last request. */
  lastHeaders: Record<string, string | string[] | undefined>;
  close(): Promise<void>;
}

export function integrityOf(bytes: Buffer): string {
  return describeTarball(bytes).integrity;
}

export function tarballOfName(name: string, version: string): Buffer {
  return gzipSync(Buffer.concat([Buffer.from(`${name}@${version}\n`), randomBytes(4096)]));
}

function sendTarball(origin: NpmOrigin, name: string, file: string, bump: (key: string) => void, res: ServerResponse): void {
  bump(`tarball ${file}`);
  const version = [...(origin.packages.get(name)?.versions ?? new Map<string, OriginVersion>())].find(([v]) => `${name.split('/').pop()}-${v}.tgz` === file)?.[1];
  if (!version) return void res.writeHead(404).end();
  let body = version.tarball;
  if (origin.corrupt.has(file)) {
    body = Buffer.from(body);
    const at = body.length >> 1;
    body[at] = body[at]! ^ 0xff;
  }
  setTimeout(() => res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body), origin.tarballDelayMs);
}

function sendPackument(origin: NpmOrigin, name: string, bump: (key: string) => void, req: IncomingMessage, res: ServerResponse): void {
  bump(`packument ${name}`);
  const pkg = origin.packages.get(name);
  if (!pkg) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  const versions: Record<string, unknown> = {};
  for (const [v, { tarball: bytes, manifest }] of pkg.versions) {
    const file = `${name.split('/').pop()}-${v}.tgz`;
    const { integrity, shasum } = describeTarball(bytes);
    versions[v] = { ...manifest, dist: { tarball: `${origin.url}/${name}/-/${file}`, integrity, shasum } };
  }
  const abbreviated = String(req.headers.accept ?? '').includes('application/vnd.npm.install-v1+json');
  const modified = '2024-01-01T00:00:00.000Z';
  const doc = abbreviated ? { name, modified, 'dist-tags': pkg.distTags, versions } : { _id: name, name, description: `${name} package`, 'dist-tags': pkg.distTags, versions, time: { modified } };
  const body = JSON.stringify(doc);
  const etag = `"${createHash('sha1').update(body).digest('hex')}"`;
  if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag }).end();
  res.writeHead(200, { 'content-type': abbreviated ? 'application/vnd.npm.install-v1+json' : 'application/json', etag }).end(body);
}

export async function startNpmOrigin(): Promise<NpmOrigin> {
  const counts = new Map<string, number>();
  const bump = (key: string): void => void counts.set(key, (counts.get(key) ?? 0) + 1);
  const origin: NpmOrigin = {
    url: '',
    packages: new Map(),
    add(name, version, options = {}) {
      let pkg = origin.packages.get(name);
      if (!pkg) origin.packages.set(name, (pkg = { distTags: {}, versions: new Map() }));
      const v = { tarball: options.tarball ?? tarballOfName(name, version), manifest: { name, version, description: `${name} from the origin`, ...options.manifest } };
      pkg.versions.set(version, v);
      pkg.distTags[options.tag ?? 'latest'] = version;
      return v;
    },
    count: (what) => counts.get(what) ?? 0,
    down: false,
    corrupt: new Set(),
    tarballDelayMs: 0,
    auditAnswer: undefined,
    requiredAuth: undefined,
    lastHeaders: {},
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    origin.lastHeaders = req.headers;
    if (origin.down) return void res.writeHead(503).end('down');
    if (origin.requiredAuth !== undefined && req.headers.authorization !== origin.requiredAuth) {
      bump('unauthorized');
      return void res.writeHead(401, { 'www-authenticate': 'Basic realm="origin"' }).end();
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'POST' && path.startsWith('/-/npm/v1/security/')) {
      bump(`audit ${path.slice('/-/npm/v1/security/'.length)}`);
      req.resume();
      if (origin.auditAnswer === undefined) return void res.writeHead(404).end();
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(origin.auditAnswer));
    }
    const tarball = /^\/(.+)\/-\/([^/]+\.tgz)$/.exec(path);
    if (tarball) return sendTarball(origin, decodeURIComponent(tarball[1]!), tarball[2]!, bump, res);
    sendPackument(origin, decodeURIComponent(path.slice(1)), bump, req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  origin.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return origin;
}
