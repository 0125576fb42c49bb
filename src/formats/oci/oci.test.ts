/**
 * The OCI distribution surface through `inject()` over a real SQLite store and filesystem
 * driver: every endpoint's good path and the bad inputs the spec names.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp, type App } from '../../app.js';
import { loadConfig } from '../../config/config.js';
import { digestOf } from '../../base/digest.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const REPO = 'acme/docker-local/team/app';
const ADMIN_PASSWORD = 'oci-test-admin-password';
/** Every request authenticates as the bootstrap admin (permissions have their own suite). */
const ADMIN = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

async function open(dataDir: string): Promise<App> {
  return buildApp(loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', adminPassword: ADMIN_PASSWORD } }));
}

function imageManifest(config: Buffer, layers: Buffer[], extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(l), size: l.length })),
      ...extra,
    }),
  );
}

describe('OCI distribution API', () => {
  let dataDir: string;
  let app: App;

  const inject = (opts: InjectOptions): Promise<LightMyRequestResponse> =>
    app.server.inject({ ...opts, headers: { authorization: ADMIN, ...opts.headers } });

  async function pushBlob(repo: string, data: Buffer): Promise<string> {
    const digest = digestOf(data);
    const res = await inject({ method: 'POST', url: `/v2/${repo}/blobs/uploads/?digest=${digest}`, payload: data, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(res.statusCode, 201, res.body);
    return digest;
  }

  async function pushManifest(repo: string, ref: string, body: Buffer, contentType = OCI_MANIFEST) {
    return inject({ method: 'PUT', url: `/v2/${repo}/manifests/${ref}`, payload: body, headers: { 'content-type': contentType } });
  }

  async function pushImage(repo: string, tag: string, seed = randomBytes(8).toString('hex')) {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
    const layer = randomBytes(1024);
    await pushBlob(repo, config);
    await pushBlob(repo, layer);
    const manifest = imageManifest(config, [layer]);
    const res = await pushManifest(repo, tag, manifest);
    assert.equal(res.statusCode, 201, res.body);
    return { manifest, digest: digestOf(manifest), config, layer };
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-oci-'));
    app = await open(dataDir);
    const { store } = app.services;
    const acme = await store.createSpace({ path: 'acme', parentId: null, description: '' });
    const other = await store.createSpace({ path: 'other', parentId: null, description: '' });
    const base = { description: '', labels: [], public: false, upstream: null, packageType: 'docker' as const };
    await store.createRegistry({ ...base, spaceId: acme.id, identifier: 'docker-local', kind: 'local' });
    await store.createRegistry({ ...base, spaceId: acme.id, identifier: 'second', kind: 'local' });
    await store.createRegistry({ ...base, spaceId: other.id, identifier: 'docker-local', kind: 'local' });
    await store.createRegistry({ ...base, spaceId: acme.id, identifier: 'hub', kind: 'upstream', upstream: { source: 'dockerhub' } });
  });

  after(async () => {
    await app.server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers the version check with the API version header', async () => {
    const res = await inject({ method: 'GET', url: '/v2/' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
  });

  describe('blob push and pull', () => {
    it('pushes monolithically with POST then PUT and serves the bytes back', async () => {
      const data = randomBytes(100_000);
      const digest = digestOf(data);
      const start = await inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/` });
      assert.equal(start.statusCode, 202);
      const location = start.headers.location as string;
      assert.match(location, /^\/v2\/acme\/docker-local\/team\/app\/blobs\/uploads\/[0-9a-f-]{36}$/);
      const put = await inject({ method: 'PUT', url: `${location}?digest=${digest}`, payload: data, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(put.statusCode, 201, put.body);
      assert.equal(put.headers['docker-content-digest'], digest);
      assert.equal(put.headers.location, `/v2/${REPO}/blobs/${digest}`);
      const head = await inject({ method: 'HEAD', url: `/v2/${REPO}/blobs/${digest}` });
      assert.equal(head.statusCode, 200);
      assert.equal(head.headers['content-length'], String(data.length));
      assert.equal(head.body, '');
      const get = await inject({ method: 'GET', url: `/v2/${REPO}/blobs/${digest}` });
      assert.equal(get.statusCode, 200);
      assert.ok(get.rawPayload.equals(data));
    });

    it('pushes in one POST when the digest is given', async () => {
      const data = randomBytes(5000);
      const digest = await pushBlob(REPO, data);
      const get = await inject({ method: 'GET', url: `/v2/${REPO}/blobs/${digest}` });
      assert.ok(get.rawPayload.equals(data));
    });

    it('accepts sha512 digests', async () => {
      const data = randomBytes(3000);
      const digest = digestOf(data, 'sha512');
      const res = await inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/?digest=${digest}`, payload: data, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(res.statusCode, 201, res.body);
      const get = await inject({ method: 'GET', url: `/v2/${REPO}/blobs/${digest}` });
      assert.ok(get.rawPayload.equals(data));
    });

    it('pushes in chunks, reports progress, and rejects an out-of-order chunk with 416', async () => {
      const data = randomBytes(30_000);
      const start = await inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/` });
      let location = start.headers.location as string;
      const first = await inject({
        method: 'PATCH',
        url: location,
        payload: data.subarray(0, 10_000),
        headers: { 'content-type': 'application/octet-stream', 'content-range': '0-9999' },
      });
      assert.equal(first.statusCode, 202, first.body);
      assert.equal(first.headers.range, '0-9999');
      location = first.headers.location as string;
      const skipped = await inject({
        method: 'PATCH',
        url: location,
        payload: data.subarray(20_000),
        headers: { 'content-type': 'application/octet-stream', 'content-range': '20000-29999' },
      });
      assert.equal(skipped.statusCode, 416);
      assert.equal(JSON.parse(skipped.body).errors[0].code, 'RANGE_INVALID');
      const status = await inject({ method: 'GET', url: location });
      assert.equal(status.statusCode, 204);
      assert.equal(status.headers.range, '0-9999');
      const second = await inject({
        method: 'PATCH',
        url: location,
        payload: data.subarray(10_000, 20_000),
        headers: { 'content-type': 'application/octet-stream', 'content-range': '10000-19999' },
      });
      assert.equal(second.statusCode, 202);
      const done = await inject({
        method: 'PUT',
        url: `${location}?digest=${digestOf(data)}`,
        payload: data.subarray(20_000),
        headers: { 'content-type': 'application/octet-stream', 'content-range': '20000-29999' },
      });
      assert.equal(done.statusCode, 201, done.body);
      const get = await inject({ method: 'GET', url: `/v2/${REPO}/blobs/${digestOf(data)}` });
      assert.ok(get.rawPayload.equals(data));
    });

    it('rejects a malformed Content-Range with 400 and keeps the session', async () => {
      const start = await inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/` });
      const location = start.headers.location as string;
      const bad = await inject({ method: 'PATCH', url: location, payload: Buffer.from('abc'), headers: { 'content-type': 'application/octet-stream', 'content-range': 'bytes=zero' } });
      assert.equal(bad.statusCode, 400);
      assert.equal(JSON.parse(bad.body).errors[0].code, 'BLOB_UPLOAD_INVALID');
      const status = await inject({ method: 'GET', url: location });
      assert.equal(status.statusCode, 204);
    });

    it('rejects a wrong digest, keeps no blob, and ends the session', async () => {
      const data = randomBytes(2000);
      const wrong = digestOf(randomBytes(10));
      const start = await inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/` });
      const location = start.headers.location as string;
      const put = await inject({ method: 'PUT', url: `${location}?digest=${wrong}`, payload: data, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(put.statusCode, 400);
      assert.equal(JSON.parse(put.body).errors[0].code, 'DIGEST_INVALID');
      assert.equal((await inject({ method: 'HEAD', url: `/v2/${REPO}/blobs/${wrong}` })).statusCode, 404);
      assert.equal((await inject({ method: 'HEAD', url: `/v2/${REPO}/blobs/${digestOf(data)}` })).statusCode, 404);
      assert.equal((await inject({ method: 'GET', url: location })).statusCode, 404);
      const sessionsBefore = (await app.services.store.listStaleUploads(Date.now() + 1)).length;
      const single = await inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/?digest=${wrong}`, payload: data, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(single.statusCode, 400);
      assert.equal(JSON.parse(single.body).errors[0].code, 'DIGEST_INVALID');
      assert.equal((await inject({ method: 'HEAD', url: `/v2/${REPO}/blobs/${wrong}` })).statusCode, 404);
      assert.equal((await app.services.store.listStaleUploads(Date.now() + 1)).length, sessionsBefore, 'no session is left behind');
    });

    it('rejects malformed and unsupported digests', async () => {
      for (const digest of ['sha256:xyz', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'nonsense']) {
        const res = await inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/?digest=${digest}`, payload: Buffer.from('x'), headers: { 'content-type': 'application/octet-stream' } });
        assert.equal(res.statusCode, 400, digest);
        assert.equal(JSON.parse(res.body).errors[0].code, 'DIGEST_INVALID');
      }
      const get = await inject({ method: 'GET', url: `/v2/${REPO}/blobs/sha256:abc` });
      assert.equal(get.statusCode, 400);
    });

    it('requires the digest to complete an upload', async () => {
      const start = await inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/` });
      const res = await inject({ method: 'PUT', url: start.headers.location as string });
      assert.equal(res.statusCode, 400);
      assert.equal(JSON.parse(res.body).errors[0].code, 'DIGEST_INVALID');
    });

    it('cancels an upload and forgets unknown upload ids', async () => {
      const start = await inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/` });
      const location = start.headers.location as string;
      assert.equal((await inject({ method: 'DELETE', url: location })).statusCode, 204);
      const after = await inject({ method: 'GET', url: location });
      assert.equal(after.statusCode, 404);
      assert.equal(JSON.parse(after.body).errors[0].code, 'BLOB_UPLOAD_UNKNOWN');
      const unknown = await inject({ method: 'PATCH', url: `/v2/${REPO}/blobs/uploads/not-a-real-id`, payload: Buffer.from('x'), headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(unknown.statusCode, 404);
    });

    it('serves byte ranges and refuses ranges outside the blob', async () => {
      const data = Buffer.from('0123456789abcdef');
      const digest = await pushBlob(REPO, data);
      const url = `/v2/${REPO}/blobs/${digest}`;
      const cases: Array<[string, string, string]> = [
        ['bytes=0-3', '0123', 'bytes 0-3/16'],
        ['bytes=10-', 'abcdef', 'bytes 10-15/16'],
        ['bytes=-2', 'ef', 'bytes 14-15/16'],
      ];
      for (const [range, body, contentRange] of cases) {
        const res = await inject({ method: 'GET', url, headers: { range } });
        assert.equal(res.statusCode, 206, range);
        assert.equal(res.body, body);
        assert.equal(res.headers['content-range'], contentRange);
      }
      const bad = await inject({ method: 'GET', url, headers: { range: 'bytes=20-30' } });
      assert.equal(bad.statusCode, 416);
      assert.equal(bad.headers['content-range'], 'bytes */16');
    });

    it('mounts a blob from another repository of the same root space only', async () => {
      const data = randomBytes(700);
      const digest = await pushBlob(REPO, data);
      const mounted = await inject({ method: 'POST', url: `/v2/acme/second/other/blobs/uploads/?mount=${digest}&from=${REPO}` });
      assert.equal(mounted.statusCode, 201, mounted.body);
      assert.equal(mounted.headers.location, `/v2/acme/second/other/blobs/${digest}`);
      assert.equal((await inject({ method: 'HEAD', url: `/v2/acme/second/other/blobs/${digest}` })).statusCode, 200);
      const foreign = await inject({ method: 'POST', url: `/v2/other/docker-local/x/blobs/uploads/?mount=${digest}&from=${REPO}` });
      assert.equal(foreign.statusCode, 202, 'a mount across root spaces falls back to an upload');
      assert.equal((await inject({ method: 'HEAD', url: `/v2/other/docker-local/x/blobs/${digest}` })).statusCode, 404);
    });

    it('does not serve a blob of the root space to a repository it is not linked to', async () => {
      const digest = await pushBlob(REPO, randomBytes(100));
      const res = await inject({ method: 'GET', url: `/v2/acme/second/guess/blobs/${digest}` });
      assert.equal(res.statusCode, 404);
    });

    it('deletes a blob link', async () => {
      const digest = await pushBlob(REPO, randomBytes(64));
      assert.equal((await inject({ method: 'DELETE', url: `/v2/${REPO}/blobs/${digest}` })).statusCode, 202);
      const head = await inject({ method: 'HEAD', url: `/v2/${REPO}/blobs/${digest}` });
      assert.equal(head.statusCode, 404);
      assert.equal((await inject({ method: 'DELETE', url: `/v2/${REPO}/blobs/${digest}` })).statusCode, 404);
    });
  });

  describe('manifests', () => {
    it('stores a manifest by tag and serves it by tag and digest with its media type', async () => {
      const { manifest, digest } = await pushImage(REPO, 'v1');
      for (const ref of ['v1', digest]) {
        const res = await inject({ method: 'GET', url: `/v2/${REPO}/manifests/${ref}` });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['content-type'], OCI_MANIFEST);
        assert.equal(res.headers['docker-content-digest'], digest);
        assert.ok(res.rawPayload.equals(manifest));
      }
      const head = await inject({ method: 'HEAD', url: `/v2/${REPO}/manifests/v1` });
      assert.equal(head.statusCode, 200);
      assert.equal(head.headers['content-length'], String(manifest.length));
    });

    it('rejects a manifest that references a blob the repository does not have, storing nothing', async () => {
      const config = Buffer.from('{}');
      await pushBlob(REPO, config);
      const manifest = imageManifest(config, [randomBytes(10)]);
      const res = await pushManifest(REPO, 'missing-layer', manifest);
      assert.equal(res.statusCode, 400);
      assert.equal(JSON.parse(res.body).errors[0].code, 'MANIFEST_BLOB_UNKNOWN');
      assert.equal((await inject({ method: 'GET', url: `/v2/${REPO}/manifests/missing-layer` })).statusCode, 404);
      assert.equal((await inject({ method: 'GET', url: `/v2/${REPO}/manifests/${digestOf(manifest)}` })).statusCode, 404);
    });

    it('rejects a manifest pushed by a digest it does not hash to', async () => {
      const { manifest } = await pushImage(REPO, 'tmp');
      const wrong = digestOf(Buffer.from('other'));
      const res = await pushManifest(REPO, wrong, manifest);
      assert.equal(res.statusCode, 400);
      assert.equal(JSON.parse(res.body).errors[0].code, 'DIGEST_INVALID');
    });

    it('rejects malformed JSON, unknown media types, schema 1 and bad descriptors with MANIFEST_INVALID', async () => {
      const bodies: Array<[string, string]> = [
        ['{not json', OCI_MANIFEST],
        [JSON.stringify({ schemaVersion: 2, mediaType: 'application/x-unknown', config: {}, layers: [] }), 'application/x-unknown'],
        [JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), 'application/vnd.docker.distribution.manifest.v1+json'],
        [JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: 'sha256:bad', size: 1 }, layers: [] }), OCI_MANIFEST],
        [JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: digestOf(Buffer.from('a')), size: -1 }, layers: [] }), OCI_MANIFEST],
      ];
      for (const [body, type] of bodies) {
        const res = await pushManifest(REPO, 'bad', Buffer.from(body), type);
        assert.equal(res.statusCode, 400, body);
        assert.equal(JSON.parse(res.body).errors[0].code, 'MANIFEST_INVALID', body);
      }
      assert.equal((await inject({ method: 'GET', url: `/v2/${REPO}/manifests/bad` })).statusCode, 404);
    });

    it('rejects a manifest larger than 4 MiB with 413', async () => {
      const res = await pushManifest(REPO, 'huge', Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
      assert.equal(res.statusCode, 413);
    });

    it('stores Docker schema 2 manifests and manifest lists', async () => {
      const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux' }));
      const layer = randomBytes(300);
      await pushBlob(REPO, config);
      await pushBlob(REPO, layer);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: DOCKER_MANIFEST,
          config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: digestOf(config), size: config.length },
          layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: digestOf(layer), size: layer.length }],
        }),
      );
      assert.equal((await pushManifest(REPO, 'docker', manifest, DOCKER_MANIFEST)).statusCode, 201);
      const list = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
          manifests: [{ mediaType: DOCKER_MANIFEST, digest: digestOf(manifest), size: manifest.length, platform: { architecture: 'arm64', os: 'linux' } }],
        }),
      );
      const res = await pushManifest(REPO, 'docker-list', list, 'application/vnd.docker.distribution.manifest.list.v2+json');
      assert.equal(res.statusCode, 201, res.body);
      const get = await inject({ method: 'GET', url: `/v2/${REPO}/manifests/docker-list` });
      assert.equal(get.headers['content-type'], 'application/vnd.docker.distribution.manifest.list.v2+json');
    });

    it('stores an index only when every child manifest is present', async () => {
      const amd = await pushImage(REPO, 'amd');
      const missing = digestOf(Buffer.from('nope'));
      const index = (children: Array<{ digest: string; size: number }>) =>
        Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children.map((c) => ({ mediaType: OCI_MANIFEST, ...c, platform: { architecture: 'amd64', os: 'linux' } })) }));
      const bad = await pushManifest(REPO, 'multi', index([{ digest: amd.digest, size: amd.manifest.length }, { digest: missing, size: 4 }]), OCI_INDEX);
      assert.equal(bad.statusCode, 400);
      assert.equal(JSON.parse(bad.body).errors[0].code, 'MANIFEST_BLOB_UNKNOWN');
      const good = await pushManifest(REPO, 'multi', index([{ digest: amd.digest, size: amd.manifest.length }]), OCI_INDEX);
      assert.equal(good.statusCode, 201);
    });

    it('deletes a tag, then the manifest by digest', async () => {
      const { digest } = await pushImage(REPO, 'to-delete');
      await inject({ method: 'PUT', url: `/v2/${REPO}/manifests/also`, payload: (await inject({ method: 'GET', url: `/v2/${REPO}/manifests/${digest}` })).rawPayload, headers: { 'content-type': OCI_MANIFEST } });
      assert.equal((await inject({ method: 'DELETE', url: `/v2/${REPO}/manifests/to-delete` })).statusCode, 202);
      assert.equal((await inject({ method: 'GET', url: `/v2/${REPO}/manifests/to-delete` })).statusCode, 404);
      assert.equal((await inject({ method: 'GET', url: `/v2/${REPO}/manifests/also` })).statusCode, 200);
      assert.equal((await inject({ method: 'DELETE', url: `/v2/${REPO}/manifests/${digest}` })).statusCode, 202);
      assert.equal((await inject({ method: 'GET', url: `/v2/${REPO}/manifests/also` })).statusCode, 404);
      assert.equal((await inject({ method: 'DELETE', url: `/v2/${REPO}/manifests/${digest}` })).statusCode, 404);
    });

    it('refuses pushes to an upstream proxy with DENIED', async () => {
      const res = await inject({ method: 'POST', url: '/v2/acme/hub/library/alpine/blobs/uploads/' });
      assert.equal(res.statusCode, 403);
      assert.equal(JSON.parse(res.body).errors[0].code, 'DENIED');
    });

    it('answers NAME_INVALID for bad names and NAME_UNKNOWN for missing registries', async () => {
      const bad = await inject({ method: 'GET', url: '/v2/acme/docker-local/Upper/manifests/latest' });
      assert.equal(bad.statusCode, 400);
      assert.equal(JSON.parse(bad.body).errors[0].code, 'NAME_INVALID');
      const short = await inject({ method: 'GET', url: '/v2/acme/app/manifests/latest' });
      assert.equal(short.statusCode, 400);
      const unknown = await inject({ method: 'GET', url: '/v2/acme/nothing/app/manifests/latest' });
      assert.equal(unknown.statusCode, 404);
      assert.equal(JSON.parse(unknown.body).errors[0].code, 'NAME_UNKNOWN');
    });
  });

  describe('content discovery', () => {
    const repo = 'acme/docker-local/tagged';
    before(async () => {
      const img = await pushImage(repo, 'b');
      for (const tag of ['a', 'C', 'c', 'd']) {
        await pushManifest(repo, tag, img.manifest);
      }
    });

    it('lists tags in lexical order', async () => {
      const res = await inject({ method: 'GET', url: `/v2/${repo}/tags/list` });
      assert.deepEqual(JSON.parse(res.body), { name: repo, tags: ['C', 'a', 'b', 'c', 'd'] });
    });

    it('pages tags with n and last and a Link to the next page', async () => {
      const first = await inject({ method: 'GET', url: `/v2/${repo}/tags/list?n=2` });
      assert.deepEqual(JSON.parse(first.body).tags, ['C', 'a']);
      assert.equal(first.headers.link, `</v2/${repo}/tags/list?n=2&last=a>; rel="next"`);
      const second = await inject({ method: 'GET', url: `/v2/${repo}/tags/list?n=2&last=a` });
      assert.deepEqual(JSON.parse(second.body).tags, ['b', 'c']);
      const last = await inject({ method: 'GET', url: `/v2/${repo}/tags/list?n=5&last=c` });
      assert.deepEqual(JSON.parse(last.body).tags, ['d']);
      assert.equal(last.headers.link, undefined);
      assert.equal((await inject({ method: 'GET', url: `/v2/${repo}/tags/list?n=-1` })).statusCode, 400);
    });

    it('lists repositories in the catalog with paging', async () => {
      const res = await inject({ method: 'GET', url: '/v2/_catalog' });
      const names = JSON.parse(res.body).repositories as string[];
      assert.ok(names.includes(repo));
      assert.ok(names.includes(REPO));
      assert.deepEqual(names, [...names].sort());
      const page = await inject({ method: 'GET', url: '/v2/_catalog?n=1' });
      assert.equal(JSON.parse(page.body).repositories.length, 1);
      assert.match(page.headers.link as string, /rel="next"/);
    });
  });

  describe('referrers', () => {
    it('answers OCI-Subject and lists referrers, filtered by artifact type', async () => {
      const repo = 'acme/docker-local/signed';
      const subject = await pushImage(repo, 'v1');
      const empty = Buffer.from('{}');
      await pushBlob(repo, empty);
      const sig = Buffer.from('signature');
      await pushBlob(repo, sig);
      const artifact = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: 'application/vnd.example.signature',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(empty), size: 2 },
          layers: [{ mediaType: 'application/octet-stream', digest: digestOf(sig), size: sig.length }],
          subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.manifest.length },
          annotations: { 'org.example.kind': 'sig' },
        }),
      );
      const put = await pushManifest(repo, digestOf(artifact), artifact);
      assert.equal(put.statusCode, 201, put.body);
      assert.equal(put.headers['oci-subject'], subject.digest);
      const list = await inject({ method: 'GET', url: `/v2/${repo}/referrers/${subject.digest}` });
      assert.equal(list.statusCode, 200);
      assert.equal(list.headers['content-type'], OCI_INDEX);
      const index = JSON.parse(list.body);
      assert.equal(index.manifests.length, 1);
      assert.equal(index.manifests[0].digest, digestOf(artifact));
      assert.equal(index.manifests[0].artifactType, 'application/vnd.example.signature');
      assert.deepEqual(index.manifests[0].annotations, { 'org.example.kind': 'sig' });
      const filtered = await inject({ method: 'GET', url: `/v2/${repo}/referrers/${subject.digest}?artifactType=application/x-other` });
      assert.equal(filtered.headers['oci-filters-applied'], 'artifactType');
      assert.equal(JSON.parse(filtered.body).manifests.length, 0);
      const none = await inject({ method: 'GET', url: `/v2/${repo}/referrers/${digestOf(Buffer.from('x'))}` });
      assert.equal(none.statusCode, 200);
      assert.equal(JSON.parse(none.body).manifests.length, 0);
    });
  });

  describe('sessions across restarts and broken bodies', () => {
    it('removes abandoned upload sessions and their bytes', async () => {
      const start = await inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/` });
      const location = start.headers.location as string;
      const id = location.split('/').pop()!;
      await inject({ method: 'PATCH', url: location, payload: randomBytes(100), headers: { 'content-type': 'application/octet-stream' } });
      const sessionKeys = async (): Promise<string[]> => {
        const keys: string[] = [];
        for await (const key of app.services.driver.list(`uploads/${id}`)) keys.push(key);
        return keys;
      };
      assert.ok((await sessionKeys()).length > 0, 'the session holds its bytes');
      const removed = await app.services.uploadJanitor.sweep(Date.now() + app.services.config.uploads.staleAfterSeconds * 1000 + 1);
      assert.ok(removed >= 1);
      assert.equal((await inject({ method: 'GET', url: location })).statusCode, 404);
      assert.deepEqual(await sessionKeys(), []);
    });

    it('resumes an upload session after the server restarts', async () => {
      const data = randomBytes(50_000);
      const start = await inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/` });
      const location = start.headers.location as string;
      await inject({ method: 'PATCH', url: location, payload: data.subarray(0, 20_000), headers: { 'content-type': 'application/octet-stream', 'content-range': '0-19999' } });
      await app.server.close();
      app = await open(dataDir);
      const status = await inject({ method: 'GET', url: location });
      assert.equal(status.headers.range, '0-19999');
      const done = await inject({ method: 'PUT', url: `${location}?digest=${digestOf(data)}`, payload: data.subarray(20_000), headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(done.statusCode, 201, done.body);
      const get = await inject({ method: 'GET', url: `/v2/${REPO}/blobs/${digestOf(data)}` });
      assert.ok(get.rawPayload.equals(data));
    });

    it('keeps the session offset when a chunk is cut off mid-stream', async () => {
      await app.server.listen({ port: 0, host: '127.0.0.1' });
      const port = (app.server.server.address() as AddressInfo).port;
      const start = await inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/` });
      const location = start.headers.location as string;
      await new Promise<void>((resolve) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'PATCH', path: location, headers: { authorization: ADMIN, 'content-type': 'application/octet-stream', 'content-length': '100000' } });
        req.on('error', () => resolve());
        req.write(randomBytes(30_000), () => setTimeout(() => { req.destroy(); resolve(); }, 100));
      });
      await new Promise((r) => setTimeout(r, 200));
      const status = await inject({ method: 'GET', url: location });
      assert.equal(status.statusCode, 204);
      assert.equal(status.headers.range, '0-0');
      const data = randomBytes(1000);
      const done = await inject({ method: 'PUT', url: `${location}?digest=${digestOf(data)}`, payload: data, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(done.statusCode, 201, done.body);
      assert.ok((await inject({ method: 'GET', url: `/v2/${REPO}/blobs/${digestOf(data)}` })).rawPayload.equals(data));
    });
  });
});
