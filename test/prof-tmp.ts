import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { startNpmOrigin, integrityOf, tarballOfName } from './helpers/npm-origin.js';
import { runWrk } from '../bench/wrk.js';
const origin = await startNpmOrigin();
origin.add('bench-100', '1.0.0', { manifest: { dependencies: { 'bench-50': '^1.0.0', 'bench-33': '^1.0.0' } } });
const port = 45000 + Math.floor(Math.random() * 1000);
const prof = process.argv[2] === 'prof';
const child = spawn(process.execPath, [...(prof ? ['--cpu-prof', '--cpu-prof-dir=/tmp/npmup/prof'] : []), 'dist/main.js', 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', `/tmp/npmup/prof/data-${port}`, '--log-level', 'warn'], { env: { ...process.env, PALLET_ADMIN_PASSWORD: 'pw-123456789', PALLET_UPSTREAM_ALLOWED_NETWORKS: '127.0.0.1/32' }, stdio: 'inherit' });
const base = `http://127.0.0.1:${port}`;
for (let i = 0; i < 100; i++) { try { await fetch(`${base}/readyz`); break; } catch { await new Promise((r) => setTimeout(r, 200)); } }
const auth = { authorization: `Basic ${Buffer.from('admin:pw-123456789').toString('base64')}`, 'content-type': 'application/json' };
const api = async (path: string, body: unknown) => { const r = await fetch(`${base}/api/v1${path}`, { method: 'POST', headers: auth, body: JSON.stringify(body) }); const t = await r.text(); if (!r.ok) throw new Error(t); return JSON.parse(t); };
await api('/spaces', { path: 'bench' });
await api('/registries', { space: 'bench', identifier: 'up', packageType: 'npm', kind: 'upstream', upstream: { source: 'custom', url: origin.url, tagTtlSeconds: 300 } });
await api('/registries', { space: 'bench', identifier: 'npm', packageType: 'npm', kind: 'local', upstreams: ['up'] });
await api('/registries', { space: 'bench', identifier: 'own', packageType: 'npm', kind: 'local' });
const { token } = await api('/user/tokens', { name: 'b', scopes: ['read', 'write'] });
const tarball = tarballOfName('bench-100', '1.0.0');
const put = await fetch(`${base}/pkg/bench/own/npm/bench-100`, { method: 'PUT', headers: { ...auth }, body: JSON.stringify({ _id: 'bench-100', name: 'bench-100', 'dist-tags': { latest: '1.0.0' }, versions: { '1.0.0': { name: 'bench-100', version: '1.0.0', dist: { integrity: integrityOf(tarball), shasum: createHash('sha1').update(tarball).digest('hex'), tarball: 'x' } } }, _attachments: { 'bench-100-1.0.0.tgz': { data: tarball.toString('base64'), length: tarball.length } } }) });
console.log('put', put.status);
const headers = { authorization: `Bearer ${token}`, accept: 'application/vnd.npm.install-v1+json' };
for (const reg of (process.argv[3] ?? 'own,npm,up').split(',')) {
  const url = `${base}/pkg/bench/${reg}/npm/bench-100`;
  const r = await fetch(url, { headers }); console.log(reg, r.status, (await r.text()).length);
  const w = await runWrk({ url, seconds: 4, connections: 16, threads: 2, headers });
  console.log(reg, w.requestsPerSecond);
}
if (!process.argv[3]) { const w2 = await runWrk({ url: `${base}/readyz`, seconds: 4, connections: 16, threads: 2, headers: {} });
console.log('readyz', w2.requestsPerSecond); }
child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); await origin.close();
