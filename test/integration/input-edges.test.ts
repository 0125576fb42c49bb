/**
 * Edges of untrusted input on a real app: percent-encoded references decoded once, GET/HEAD of
 * an impossible reference answered 404 MANIFEST_UNKNOWN (a PUT stays 400), an oversized chunked
 * manifest answered 413 over a raw socket (not a reset), names that OCI clients cannot use
 * refused, multipart uploads with too many parts refused, and the UI's Content-Security-Policy.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { chart } from '../fixtures/charts.js';
import { pushImage, startInProcess, type Harness } from '../helpers/inproc.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Writes `head` then `chunks` (chunked encoding) to a raw socket; resolves to all bytes read until close. */
function rawExchange(port: number, head: string, chunks: Buffer[]): Promise<{ text: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let error: string | undefined;
    socket.on('data', (c: Buffer) => received.push(c));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    socket.on('close', () => resolve({ text: Buffer.concat(received).toString('latin1'), ...(error ? { error } : {}) }));
    socket.write(head);
    (async () => {
      for (const chunk of chunks) {
        if (socket.destroyed || received.length > 0) break;
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        if (!socket.write('\r\n')) await new Promise((r) => socket.once('drain', r));
      }
      if (!socket.destroyed) socket.end('0\r\n\r\n');
    })().catch(() => undefined);
  });
}

describe('edges of untrusted input', () => {
  let h: Harness;
  let port: number;

  before(async () => {
    h = await startInProcess();
    await h.app.server.listen({ host: '127.0.0.1', port: 0 });
    const address = h.app.server.server.address();
    assert.ok(address && typeof address === 'object');
    port = address.port;
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'images', packageType: 'docker', kind: 'local' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'charts', packageType: 'helm', kind: 'local' })).status, 201);
    await pushImage(h, 'acme/images/app', 'v1', [Buffer.from('layer')]);
  });

  after(async () => {
    await h?.close();
  });

  const oci = (method: string, url: string, payload?: Buffer) =>
    h.app.server.inject({ method: method as 'GET', url, headers: { ...h.auth, 'content-type': OCI_MANIFEST }, ...(payload ? { payload } : {}) });

  it('decodes a percent-encoded reference or digest once (%25 is not a 500)', async () => {
    for (const url of ['/v2/acme/images/app/manifests/a%25b', '/v2/acme/images/app/manifests/sha256%3A%25', '/v2/acme/images/app/blobs/sha256%3A%2541']) {
      const res = await oci('GET', url);
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${url}: ${res.statusCode} ${res.body}`);
      assert.ok(JSON.parse(res.body).errors[0].code, res.body);
    }
    const put = await oci('PUT', '/v2/acme/images/app/manifests/a%25b', Buffer.from('{}'));
    assert.equal(put.statusCode, 400, put.body);
  });

  it('answers GET and HEAD of a reference that is neither a tag nor a digest with 404 MANIFEST_UNKNOWN; PUT stays 400', async () => {
    for (const ref of ['-not-a-tag', `${'x'.repeat(129)}`, 'sha256:short', 'md5:0123456789abcdef0123456789abcdef']) {
      const get = await oci('GET', `/v2/acme/images/app/manifests/${encodeURIComponent(ref)}`);
      assert.equal(get.statusCode, 404, `${ref}: ${get.body}`);
      assert.equal(JSON.parse(get.body).errors[0].code, 'MANIFEST_UNKNOWN');
      const head = await oci('HEAD', `/v2/acme/images/app/manifests/${encodeURIComponent(ref)}`);
      assert.equal(head.statusCode, 404, ref);
    }
    const put = await oci('PUT', '/v2/acme/images/app/manifests/-not-a-tag', Buffer.from('{}'));
    assert.equal(put.statusCode, 400, put.body);
  });

  it('answers an oversized chunked manifest with 413 SIZE_INVALID, not a reset', async () => {
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const chunks = Array.from({ length: 24 }, () => chunk); // 6 MiB > limits.manifestBytes (4 MiB)
    const head =
      `PUT /v2/acme/images/app/manifests/big HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${h.auth.authorization}\r\n` +
      `Content-Type: ${OCI_MANIFEST}\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const { text, error } = await rawExchange(port, head, chunks);
    assert.match(text, /^HTTP\/1\.1 413 /, `got ${JSON.stringify(text.slice(0, 200))} (${error ?? 'no socket error'})`);
    assert.match(text, /"code":"SIZE_INVALID"/);
    assert.match(text, /connection: close/i);
  });

  it('refuses space and registry names with consecutive or trailing separators, which OCI clients cannot use', async () => {
    for (const identifier of ['a..b', 'a._b', 'a-', 'a.', 'a___b', 'a_-b']) {
      const res = await h.call<{ code: string; message: string }>('POST', '/api/v1/registries', { space: 'acme', identifier, packageType: 'docker', kind: 'local' });
      assert.equal(res.status, 400, `${identifier}: ${res.text}`);
      assert.equal(res.json.code, 'INVALID_NAME');
    }
    for (const identifier of ['a.b', 'a_b', 'a__b', 'a--b', 'a-b.c_d9']) {
      const res = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier, packageType: 'docker', kind: 'local' });
      assert.equal(res.status, 201, `${identifier}: ${res.text}`);
    }
    const space = await h.call('POST', '/api/v1/spaces', { path: 'x..y' });
    assert.equal(space.status, 400, space.text);
  });

  it('refuses a multipart chart upload with too many parts', async () => {
    const archive = await chart('parts', '1.0.0').build();
    const boundary = 'pallet-parts';
    const parts = Array.from({ length: 50 }, (_, i) => `--${boundary}\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\nv\r\n`);
    const body = Buffer.concat([
      Buffer.from(parts.join('')),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="chart"; filename="c.tgz"\r\nContent-Type: application/gzip\r\n\r\n`),
      archive,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await h.app.server.inject({
      method: 'POST',
      url: '/pkg/acme/charts/helm/api/charts',
      payload: body,
      headers: { ...h.auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    assert.equal(res.statusCode, 400, res.body);
    assert.match(res.body, /too many/);
  });

  it('sends a Content-Security-Policy with the UI', async () => {
    const res = await h.app.server.inject({ method: 'GET', url: '/registries' });
    assert.equal(res.statusCode, 200);
    const csp = String(res.headers['content-security-policy'] ?? '');
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /object-src 'none'/);
  });
});
