/**
 * Time to first serve and peak RSS of a Helm upstream proxy whose upstream `index.yaml` holds
 * N chart versions (written like `helm repo index`), plus the slowest `/healthz` answer while
 * the index is read. Usage: `node --import tsx bench/helm-index.ts [entries=50000]`.
 * Pallet runs as a child (`pallet serve` from sources); the upstream is node:http on loopback.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { helmIndexYaml } from '../test/fixtures/helm-index.js';
import { createRegistry, createSpace } from '../test/helpers/api.js';
import { startServer } from '../test/helpers/server.js';
import { rssKiB } from './rss.js';

const entries = Number(process.argv[2] ?? 50_000);
const versions = 50;
const body = Buffer.from(helmIndexYaml({ charts: Math.ceil(entries / versions), versions }));
const upstream = createServer((req, res) => {
  if (req.url !== '/index.yaml') return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': 'text/yaml', 'content-length': body.length }).end(body);
});
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
const server = await startServer({ label: 'bench-helm-index', env: { PALLET_UPSTREAM_ALLOWED_NETWORKS: '127.0.0.1/32', PALLET_LOG_LEVEL: 'warn' } });
const pid = Number((await (await fetch(`${server.url}/healthz`)).text(), await pidOf(server.url)));
try {
  await createSpace(server, 'acme');
  await createRegistry(server, { space: 'acme', identifier: 'up', packageType: 'helm', kind: 'upstream', upstream: { source: 'custom', url: upstreamUrl, tagTtlSeconds: 3600 } });
  const auth = `Basic ${Buffer.from(`admin:${server.adminPassword}`).toString('base64')}`;
  let peak = rssKiB(pid) ?? 0;
  let slowestHealth = 0;
  let done = false;
  let healthFailures = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(pid) ?? 0)), 50);
  const health = (async () => {
    while (!done) {
      const t = performance.now();
      try {
        await (await fetch(`${server.url}/healthz`)).arrayBuffer();
      } catch {
        healthFailures += 1;
      }
      slowestHealth = Math.max(slowestHealth, performance.now() - t);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const started = performance.now();
  const res = await fetch(`${server.url}/pkg/acme/up/helm/index.yaml`, { headers: { authorization: auth } });
  const served = await res.arrayBuffer();
  const first = performance.now() - started;
  const t2 = performance.now();
  await (await fetch(`${server.url}/pkg/acme/up/helm/index.yaml`, { headers: { authorization: auth } })).arrayBuffer();
  const second = performance.now() - t2;
  done = true;
  await health;
  clearInterval(sampler);
  console.log(
    JSON.stringify({
      entries,
      upstreamBytes: body.length,
      status: res.status,
      servedBytes: served.byteLength,
      firstServeMs: Math.round(first),
      secondServeMs: Math.round(second),
      slowestHealthzMs: Math.round(slowestHealth),
      healthFailures,
      peakRssMiB: Math.round(peak / 1024),
    }),
  );
} finally {
  await server.stop();
  upstream.close();
}

/** The server's pid: the child listening on the port (read from /proc). */
async function pidOf(url: string): Promise<number> {
  const { execSync } = await import('node:child_process');
  const port = new URL(url).port;
  const out = execSync(`ss -ltnpH 'sport = :${port}'`).toString();
  const m = /pid=(\d+)/.exec(out);
  if (!m) throw new Error(`no pid for ${url}: ${out}`);
  return Number(m[1]);
}
