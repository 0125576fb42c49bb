/**
 * End to end with skopeo against a real `pallet serve` (SQLite metadata, filesystem storage):
 * push and pull real OCI layouts built by umoci, and compare what comes back byte for byte.
 * Fixtures are built once in `before`; only the 200 MiB test builds its own (and removes it).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { image, index, MiB, type BuiltImage, type BuiltIndex } from '../fixtures/images.js';
import { createDockerRegistry } from '../helpers/api.js';
import { blobList, MEDIA_TYPES, parseIndex, parseManifest, readBlob, readLayout, refDescriptor, sha256 } from '../helpers/layout.js';
import { useServer } from '../helpers/server.js';
import { Skopeo } from '../helpers/skopeo.js';

const REGISTRY = 'acme/docker-local';

describe('skopeo against Pallet (SQLite, filesystem)', () => {
  const server = useServer({ label: 'e2e-skopeo' });
  let work: string;
  let skopeo: Skopeo;
  let single: BuiltImage;
  let multi: BuiltIndex;

  /** `docker://127.0.0.1:<port>/acme/docker-local/<name>:<reference>` */
  const remote = (name: string, reference: string): string => Skopeo.ref(server().host, `${REGISTRY}/${name}`, reference);
  const layoutDir = (name: string): string => join(work, name);
  /** Basic credentials of the bootstrap admin, for requests made without skopeo. */
  const adminAuth = (): string => `Basic ${Buffer.from(`admin:${server().adminPassword}`).toString('base64')}`;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'pallet-e2e-skopeo-'));
    skopeo = new Skopeo({ username: 'admin', password: server().adminPassword });
    await createDockerRegistry(server(), 'acme', 'docker-local');
    single = await image()
      .file('/hello.txt', 'hello from pallet\n')
      .layer()
      .file('/etc/app/config.json', '{"debug":false}\n')
      .randomFile('/opt/app/data.bin', 256 * 1024)
      .platform('linux', 'arm64')
      .build(layoutDir('single'), '1');
    multi = await index(
      image().file('/platform.txt', 'amd64\n').platform('linux', 'amd64'),
      image().file('/platform.txt', 'arm64\n').randomFile('/blob.bin', 64 * 1024).platform('linux', 'arm64'),
    ).build(layoutDir('multi'), 'multi');
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pushes a single-arch OCI image and pulls back identical manifest and blobs', async () => {
    await skopeo.copy(single.ref, remote('app', '1'), { preserveDigests: true });
    const pulledDir = layoutDir('pulled-single');
    await skopeo.copy(remote('app', '1'), `oci:${pulledDir}:1`);

    const source = await readLayout(single.layout);
    const pulled = await readLayout(pulledDir);
    assert.equal(refDescriptor(pulled, '1').digest, single.digest);
    assert.equal(refDescriptor(pulled, '1').size, single.descriptor.size);
    assert.deepEqual(blobList(pulled), blobList(source));
    assert.equal(pulled.blobs.size, 1 + 1 + single.layers.length, 'manifest, config and every layer');
  });

  it('skopeo inspect shows the pushed architecture, os, digest and layers', async () => {
    await skopeo.copy(single.ref, remote('inspected', '1'), { preserveDigests: true });
    const info = await skopeo.inspect(remote('inspected', '1'));
    assert.equal(info.Architecture, 'arm64');
    assert.equal(info.Os, 'linux');
    assert.equal(info.Digest, single.digest);
    assert.deepEqual(info.Layers, single.layers);
  });

  it('pushes a multi-arch index with --all and pulls both platforms back with the same index digest', async () => {
    await skopeo.copy(multi.ref, remote('multi', '1'), { all: true, preserveDigests: true });
    const pulledDir = layoutDir('pulled-multi');
    await skopeo.copy(remote('multi', '1'), `oci:${pulledDir}:1`, { all: true });

    const source = await readLayout(multi.layout);
    const pulled = await readLayout(pulledDir);
    const top = refDescriptor(pulled, '1');
    assert.equal(top.digest, multi.digest);
    assert.equal(top.mediaType, MEDIA_TYPES.ociIndex);
    assert.deepEqual(blobList(pulled), blobList(source));
    const served = parseIndex((await readBlob(pulledDir, multi.digest)).toString('utf8'));
    assert.deepEqual(
      served.manifests.map((d) => `${d.platform?.os}/${d.platform?.architecture} ${d.digest}`),
      multi.manifests.map((m) => `${m.platform.os}/${m.platform.architecture} ${m.digest}`),
    );

    for (const child of multi.manifests) {
      const info = await skopeo.inspect(remote('multi', '1'), { arch: child.platform.architecture, os: child.platform.os });
      assert.equal(info.Architecture, child.platform.architecture);
      assert.deepEqual(info.Layers, child.layers, `layers of ${child.platform.architecture}`);
    }
  });

  it('stores a Docker schema 2 image (--format v2s2) and serves it under the Docker media type and its digest', async () => {
    const digestFile = join(work, 'v2s2.digest');
    await skopeo.copy(single.ref, remote('docker-v2', '1'), { format: 'v2s2', digestFile });
    const pushedDigest = (await readFile(digestFile, 'utf8')).trim();

    const raw = await skopeo.inspectRaw(remote('docker-v2', '1'));
    const manifest = parseManifest(raw.toString('utf8'));
    assert.equal(manifest.mediaType, MEDIA_TYPES.dockerManifest);
    assert.equal(sha256(raw), pushedDigest);
    assert.deepEqual(manifest.layers.map((l) => l.digest), single.layers, 'the compressed layers are reused as they are');
    assert.equal((await skopeo.inspect(remote('docker-v2', '1'))).Digest, pushedDigest);

    const res = await fetch(`${server().url}/v2/${REGISTRY}/docker-v2/manifests/1`, {
      method: 'HEAD',
      headers: { accept: `${MEDIA_TYPES.dockerManifest}, ${MEDIA_TYPES.ociManifest}`, authorization: adminAuth() },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), MEDIA_TYPES.dockerManifest);
    assert.equal(res.headers.get('docker-content-digest'), pushedDigest);
  });

  it('round-trips a 200 MiB layer with an identical digest', async () => {
    const big = await image().randomFile('/data/big.bin', 200 * MiB).build(layoutDir('big'), 'big');
    const pulledDir = layoutDir('pulled-big');
    try {
      await skopeo.copy(big.ref, remote('big', '1'), { preserveDigests: true });
      await skopeo.copy(remote('big', '1'), `oci:${pulledDir}:1`);
      const source = await readLayout(big.layout);
      const pulled = await readLayout(pulledDir);
      const layer = big.layers[0]!;
      assert.ok((source.blobs.get(layer) ?? 0) > 200 * MiB, 'the random layer does not compress');
      assert.equal(refDescriptor(pulled, '1').digest, big.digest);
      assert.equal(pulled.blobs.get(layer), source.blobs.get(layer));
      assert.deepEqual(blobList(pulled), blobList(source));
    } finally {
      await rm(big.layout, { recursive: true, force: true });
      await rm(pulledDir, { recursive: true, force: true });
    }
  });

  it('copies between two repositories of one root space by mounting the layers', async () => {
    await skopeo.copy(single.ref, remote('copy-a', '1'), { preserveDigests: true });
    await skopeo.copy(remote('copy-a', '1'), remote('copy-b', '1'));

    const a = await skopeo.inspectRaw(remote('copy-a', '1'));
    const b = await skopeo.inspectRaw(remote('copy-b', '1'));
    assert.equal(sha256(b), single.digest);
    assert.deepEqual(b, a);

    // skopeo asks to mount each layer it saw in copy-a; every mount must have succeeded (201),
    // and no layer may have been uploaded again.
    const requests = (await server().logRecords()).filter(
      (r) => r.msg === 'request' && typeof r.url === 'string' && r.url.startsWith(`/v2/${REGISTRY}/copy-b/blobs/uploads/`),
    );
    for (const layer of single.layers) {
      const mounts = requests.filter((r) => r.method === 'POST' && String(r.url).includes(`mount=${encodeURIComponent(layer)}`));
      assert.ok(mounts.length > 0, `skopeo asked to mount ${layer}`);
      assert.ok(mounts.every((r) => r.status === 201), `mount of ${layer} answered ${mounts.map((r) => r.status).join(', ')}`);
      const uploads = requests.filter((r) => r.method === 'PUT' && String(r.url).includes(`digest=${encodeURIComponent(layer)}`));
      assert.equal(uploads.length, 0, `${layer} was uploaded again instead of mounted`);
    }
    for (const layer of single.layers) {
      const res = await fetch(`${server().url}/v2/${REGISTRY}/copy-b/blobs/${layer}`, { method: 'HEAD', headers: { authorization: adminAuth() } });
      assert.equal(res.status, 200, `copy-b serves ${layer}`);
    }
  });

  it('skopeo list-tags shows every pushed tag, sorted', async () => {
    const tags = ['v2', 'latest', '1.0', 'v10', 'alpha', 'Beta'];
    for (const tag of tags) await skopeo.copy(single.ref, remote('tagged', tag), { preserveDigests: true });
    const listed = await skopeo.listTags(`docker://${server().host}/${REGISTRY}/tagged`);
    assert.deepEqual(listed, [...tags].sort());
  });

  it('skopeo delete removes the manifest so a later inspect fails', async () => {
    await skopeo.copy(single.ref, remote('doomed', '1'), { preserveDigests: true });
    assert.equal((await skopeo.inspect(remote('doomed', '1'))).Digest, single.digest);
    await skopeo.delete(remote('doomed', '1'));
    await assert.rejects(skopeo.inspect(remote('doomed', '1')), /manifest unknown/);
    await assert.rejects(skopeo.inspect(remote('doomed', single.digest)), /manifest unknown/);
  });

  it('fails to pull an unknown tag with "manifest unknown"', async () => {
    await skopeo.copy(single.ref, remote('known', '1'), { preserveDigests: true });
    await assert.rejects(skopeo.copy(remote('known', 'no-such-tag'), `oci:${layoutDir('never')}:1`), /manifest unknown/);
  });

  it('refuses a push to a registry that does not exist', async () => {
    await assert.rejects(
      skopeo.copy(single.ref, Skopeo.ref(server().host, 'acme/no-such-registry/app', '1')),
      /name unknown.*acme\/no-such-registry/,
    );
    await assert.rejects(
      skopeo.copy(single.ref, Skopeo.ref(server().host, 'no-such-space/docker-local/app', '1')),
      /name unknown/,
    );
  });
});
