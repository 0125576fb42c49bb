/**
 * Upstream proxies end to end: a real `pallet serve` pulling through real upstreams on loopback
 * — CNCF Distribution (Debian `docker-registry`) seeded with skopeo, behind a counting proxy
 * (`test/helpers/counting-proxy.ts`) that records every upstream request and can corrupt a
 * blob — and driven by skopeo and raw OCI requests. Nothing is mocked.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { image, MiB, type BuiltImage } from '../fixtures/images.js';
import { createRegistry, createSpace, getJson } from '../helpers/api.js';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { blobList, readLayout, refDescriptor } from '../helpers/layout.js';
import { OciHttp } from '../helpers/oci-http.js';
import { useServer } from '../helpers/server.js';
import { Skopeo } from '../helpers/skopeo.js';

interface ArtifactItem {
  name: string;
  cached: boolean;
  versionCount: number;
  sizeBytes: number;
  downloadCount: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function sha256Of(res: Response): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, bytes };
}

describe('upstream proxies against CNCF Distribution', () => {
  const server = useServer({
    label: 'e2e-upstream',
    // The upstreams run on loopback, which Pallet refuses unless allow-listed.
    env: { PALLET_UPSTREAM_TIMEOUT_MS: '5000', PALLET_UPSTREAM_NOT_FOUND_TTL_SECONDS: '1', PALLET_UPSTREAM_ALLOWED_NETWORKS: '127.0.0.1/32' },
  });
  let work: string;
  let upstream: Distribution;
  let empty: Distribution;
  let counting: CountingProxy;
  let emptyCounting: CountingProxy;
  let skopeo: Skopeo;
  const plain = new Skopeo();
  let http: OciHttp;
  let app: BuiltImage;
  let other: BuiltImage;
  let big: BuiltImage;

  const pallet = (repository: string, reference: string): string => Skopeo.ref(server().host, repository, reference);
  const dir = (name: string): string => join(work, name);
  const seed = (into: Distribution, built: BuiltImage, repository: string, tag: string) =>
    plain.copy(built.ref, Skopeo.ref(into.host, repository, tag), { preserveDigests: true });

  async function pullAndCompare(repository: string, reference: string, built: BuiltImage, into: string): Promise<void> {
    await skopeo.copy(pallet(repository, reference), `oci:${dir(into)}:1`);
    const pulled = await readLayout(dir(into));
    assert.equal(refDescriptor(pulled, '1').digest, built.digest);
    assert.deepEqual(blobList(pulled), blobList(await readLayout(built.layout)), 'manifest, config and every layer, byte for byte');
  }

  async function proxy(space: string, identifier: string, url: string, extra: { tagTtlSeconds?: number } = {}): Promise<void> {
    await createRegistry(server(), {
      space,
      identifier,
      packageType: 'docker',
      kind: 'upstream',
      upstream: { source: 'custom', url, tagTtlSeconds: extra.tagTtlSeconds ?? 300 },
    });
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'pallet-e2e-upstream-'));
    skopeo = new Skopeo({ username: 'admin', password: server().adminPassword });
    http = new OciHttp(server());
    upstream = await startDistribution({ label: 'good' });
    empty = await startDistribution({ label: 'empty' });
    counting = await startCountingProxy(upstream.url);
    emptyCounting = await startCountingProxy(empty.url);

    app = await image().file('/hello.txt', 'hello through a proxy\n').layer().randomFile('/data.bin', 256 * 1024).build(dir('app'), '1');
    other = await image().file('/other.txt', 'another image\n').randomFile('/other.bin', 64 * 1024).build(dir('other'), '1');
    big = await image().randomFile('/big.bin', 100 * MiB).build(dir('big'), '1');
    await seed(upstream, app, 'team/app', '1');
    await seed(upstream, other, 'team/other', '1');
    await seed(upstream, big, 'big/app', '1');

    await createSpace(server(), 'acme');
    await proxy('acme', 'good', counting.url);
    await proxy('acme', 'empty', emptyCounting.url);
    await createRegistry(server(), { space: 'acme', identifier: 'docker-local', packageType: 'docker', kind: 'local', upstreams: ['empty', 'good'] });
  });

  after(async () => {
    await counting?.close();
    await emptyCounting?.close();
    await upstream?.destroy();
    await empty?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pulls an image through a proxy with skopeo, identical to the upstream, fetching each blob once', async () => {
    counting.reset();
    await pullAndCompare('acme/good/team/app', '1', app, 'pulled-app');
    for (const digest of [app.config, ...app.layers]) assert.equal(counting.blobGets(digest), 1, `one upstream GET of ${digest}`);
    const artifacts = await getJson<{ items: ArtifactItem[] }>(server(), 'registries/acme/good/artifacts');
    const cached = artifacts.items.find((a) => a.name === 'team/app');
    assert.equal(cached?.cached, true);
    assert.equal(cached?.versionCount, 1);
    assert.ok((cached?.sizeBytes ?? 0) > 256 * 1024, 'the cached layers count in the size');
  });

  it('serves a second pull from the cache: no upstream blob GET, and no manifest GET within the TTL', async () => {
    await skopeo.copy(pallet('acme/good/team/app', '1'), `oci:${dir('warm-1')}:1`);
    counting.reset();
    await pullAndCompare('acme/good/team/app', '1', app, 'warm-2');
    await skopeo.copy(pallet('acme/good/team/app', app.digest), `oci:${dir('warm-3')}:1`);
    assert.equal(counting.blobGets(), 0, JSON.stringify(counting.requests));
    assert.equal(counting.count('GET', /\/manifests\//), 0, JSON.stringify(counting.requests));
  });

  it('revalidates a tag past its TTL with one HEAD, and fetches nothing when it did not change', async () => {
    await proxy('acme', 'short', counting.url, { tagTtlSeconds: 1 });
    await skopeo.copy(pallet('acme/short/team/app', '1'), `oci:${dir('short-1')}:1`);
    await sleep(1_100);
    counting.reset();
    await pullAndCompare('acme/short/team/app', '1', app, 'short-2');
    assert.equal(counting.count('HEAD', /\/team\/app\/manifests\/1$/), 1, JSON.stringify(counting.requests));
    assert.equal(counting.count('GET', /\/manifests\//), 0);
    assert.equal(counting.blobGets(), 0);
  });

  it('falls through a local registry\'s upstream list in order: [empty, good]', async () => {
    counting.reset();
    emptyCounting.reset();
    await pullAndCompare('acme/docker-local/team/other', '1', other, 'through-local');
    const askedEmpty = emptyCounting.requests.find((r) => r.path.includes('/team/other/manifests/1'));
    const askedGood = counting.requests.find((r) => r.path.includes('/team/other/manifests/1'));
    assert.ok(askedEmpty && askedGood, 'both upstreams were asked for the tag');
    assert.equal(askedEmpty.status, 404);
    assert.ok(askedEmpty.at <= askedGood.at, 'the empty proxy, first in the list, was asked first');
    assert.equal(counting.blobGets(other.layers[0]), 1);

    const local = await getJson<{ items: ArtifactItem[] }>(server(), 'registries/acme/docker-local/artifacts');
    const seen = local.items.find((a) => a.name === 'team/other');
    assert.equal(seen?.cached, true, 'the local registry shows what it served through its upstreams');
    const proxied = await getJson<{ items: ArtifactItem[] }>(server(), 'registries/acme/good/artifacts');
    assert.equal(proxied.items.find((a) => a.name === 'team/other')?.cached, true);
    const versions = await getJson<{ items: { digest: string }[] }>(server(), 'registries/acme/docker-local/artifacts/team%2Fother/versions');
    assert.deepEqual(versions.items.map((v) => v.digest), [other.digest]);
  });

  it('fails a pull of something no upstream has with "manifest unknown"', async () => {
    await assert.rejects(skopeo.copy(pallet('acme/docker-local/team/nothing', '1'), `oci:${dir('never')}:1`), /manifest unknown/);
  });

  it('shares one upstream GET among concurrent misses of the same manifest', async () => {
    await proxy('acme', 'burst', counting.url);
    counting.reset();
    // The upstream takes 500 ms to answer, so every request below arrives while the first fetch runs.
    counting.delay(/\/team\/app\/manifests\/1$/, 500);
    let answers: (string | null)[];
    try {
      answers = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const res = await http.fetch('/v2/acme/burst/team/app/manifests/1', { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
          assert.equal(res.status, 200);
          return res.headers.get('docker-content-digest');
        }),
      );
    } finally {
      counting.delay(undefined);
    }
    assert.deepEqual(new Set(answers), new Set([app.digest]));
    assert.equal(counting.count('GET', /\/team\/app\/manifests\/1$/), 1, JSON.stringify(counting.requests));
  });

  it('shares one upstream GET among 20 concurrent pulls of the same uncached 100 MiB layer', async () => {
    const layer = big.layers[0]!;
    counting.reset();
    const results = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await http.fetch(`/v2/acme/good/big/app/blobs/${layer}`);
        assert.equal(res.status, 200);
        return sha256Of(res);
      }),
    );
    for (const r of results) assert.equal(r.digest, layer);
    assert.equal(counting.blobGets(layer), 1, JSON.stringify(counting.requests.filter((r) => r.path.includes('/blobs/'))));
  });

  it('finishes caching a blob after the client hangs up halfway through a cold pull', async () => {
    await createSpace(server(), 'cold');
    await proxy('cold', 'hub', counting.url);
    const layer = big.layers[0]!;
    const size = (await readLayout(big.layout)).blobs.get(layer)!;
    counting.reset();
    const controller = new AbortController();
    const res = await http.fetch(`/v2/cold/hub/big/app/blobs/${layer}`, { signal: controller.signal });
    assert.equal(res.status, 200);
    let received = 0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        received += chunk.length;
        if (received >= size / 2) controller.abort();
      }
    } catch {
      // the abort
    }
    assert.ok(received < size, 'the client stopped before the end');

    const deadline = Date.now() + 60_000;
    for (;;) {
      const records = await server().logRecords();
      if (records.some((r) => r.msg === 'upstream: cached a blob' && r.digest === layer && r.upstream === 'cold/hub')) break;
      assert.ok(Date.now() < deadline, 'the blob was cached within a minute');
      await sleep(100);
    }
    const again = await http.fetch(`/v2/cold/hub/big/app/blobs/${layer}`);
    assert.equal(again.status, 200);
    const whole = await sha256Of(again);
    assert.deepEqual(whole, { digest: layer, bytes: size });
    assert.equal(counting.blobGets(layer), 1, 'the second pull came from the cache');
  });

  it('never caches bytes that do not match the digest, and fails the client instead of ending cleanly', async () => {
    await createSpace(server(), 'third');
    await proxy('third', 'hub', counting.url);
    const layer = app.layers[1]!;
    counting.reset();
    counting.corrupt(layer);
    try {
      // A small blob (256 KiB) is verified before the client gets a byte: an error, no bytes.
      const res = await http.fetch(`/v2/third/hub/team/app/blobs/${layer}`);
      assert.notEqual(res.status, 200);
      assert.match(await res.text(), /does not match/);
      // A large one streams, holding its last chunk back: the client sees no clean end.
      counting.corrupt(big.layers[0]!);
      const large = await http.fetch(`/v2/third/hub/big/app/blobs/${big.layers[0]!}`);
      assert.equal(large.status, 200);
      await assert.rejects(sha256Of(large), 'reading the body fails: no clean end of stream');
    } finally {
      counting.corrupt(undefined);
    }
    assert.equal(counting.blobGets(layer), 1);
    const records = await server().logRecords();
    const failed = records.find((r) => r.msg === 'upstream: blob fetch failed; nothing was cached' && r.digest === layer);
    assert.ok(failed);
    // Upstream log lines carry the id of the request that started the fetch.
    const pulls = records.filter((r) => typeof r.reqId === 'string' && String(r.url ?? '').endsWith(`/v2/third/hub/team/app/blobs/${layer}`));
    assert.ok(pulls.some((r) => r.reqId === failed.reqId), `request id ${String(failed.reqId)} of the failed fetch is a pull's`);
    // Nothing was cached: the next pull goes to the upstream again and gets the right bytes.
    const res = await http.fetch(`/v2/third/hub/team/app/blobs/${layer}`);
    assert.equal(res.status, 200);
    assert.equal((await sha256Of(res)).digest, layer);
    assert.equal(counting.blobGets(layer), 2);
  });

  it('exports per-upstream metrics', async () => {
    const text = await (await fetch(`${server().url}/metrics`)).text();
    assert.match(text, /pallet_upstream_requests_total\{upstream="acme\/good",format="docker",kind="blob",method="GET"\} \d+/);
    assert.match(text, /pallet_upstream_cache_hits_total\{upstream="acme\/good",format="docker",kind="blob"\} [1-9]/);
    assert.match(text, /pallet_upstream_cache_misses_total\{upstream="acme\/good",format="docker",kind="manifest"\} [1-9]/);
    assert.match(text, /pallet_upstream_bytes_fetched_total\{upstream="acme\/good",format="docker"\} [1-9]/);
    assert.match(text, /pallet_upstream_errors_total\{upstream="third\/hub",format="docker",reason="digest-mismatch"\} 2/);
  });

  describe('outage', () => {
    let flaky: Distribution;
    let pinned: string;

    before(async () => {
      flaky = await startDistribution({ label: 'flaky' });
      await seed(flaky, app, 'app', 'v');
      await seed(flaky, app, 'app', 'pinned');
      await seed(flaky, other, 'never-pulled', '1');
      await proxy('acme', 'flaky', flaky.url, { tagTtlSeconds: 1 });
      pinned = app.digest;
    });

    after(async () => {
      await flaky?.destroy();
    });

    it('serves cached tags and digests while the upstream is down, fails uncached ones clearly, and picks up a changed tag after it is back', async () => {
      await skopeo.copy(pallet('acme/flaky/app', 'v'), `oci:${dir('flaky-1')}:1`);
      await skopeo.copy(pallet('acme/flaky/app', pinned), `oci:${dir('flaky-2')}:1`);

      await flaky.stop();
      await sleep(1_200); // past the tag TTL: the next pull revalidates and finds the upstream down
      await pullAndCompare('acme/flaky/app', 'v', app, 'flaky-down-tag');
      await pullAndCompare('acme/flaky/app', pinned, app, 'flaky-down-digest');
      await assert.rejects(
        skopeo.copy(pallet('acme/flaky/never-pulled', '1'), `oci:${dir('flaky-never')}:1`),
        /not cached and could not be fetched from the upstream.*acme\/flaky/,
      );
      const metrics = await (await fetch(`${server().url}/metrics`)).text();
      assert.match(metrics, /pallet_upstream_stale_serves_total\{upstream="acme\/flaky",format="docker"\} [1-9]/);
      const records = await server().logRecords();
      assert.ok(records.some((r) => r.msg === 'upstream: serving the cached tag without revalidation' && r.upstream === 'acme/flaky'));

      await flaky.start();
      await seed(flaky, other, 'app', 'v');
      await sleep(1_200); // past the TTL (and the back-off after the failure)
      await pullAndCompare('acme/flaky/app', 'v', other, 'flaky-changed');
      await pullAndCompare('acme/flaky/app', pinned, app, 'flaky-pinned-still');
    });
  });

  describe('upstreams with authentication', () => {
    const upstreamPallet = useServer({ label: 'e2e-upstream-origin' });
    let locked: Distribution;
    const user = { username: 'puller', password: 'pa55-word' };

    before(async () => {
      locked = await startDistribution({ label: 'htpasswd', user });
      await new Skopeo(user).copy(app.ref, Skopeo.ref(locked.host, 'team/app', '1'), { preserveDigests: true });
    });

    after(async () => {
      await locked?.destroy();
    });

    it('pulls from Distribution with htpasswd (Basic) using the stored credentials; without them the upstream denies', async () => {
      await createRegistry(server(), {
        space: 'acme',
        identifier: 'locked',
        packageType: 'docker',
        kind: 'upstream',
        upstream: { source: 'custom', url: locked.url, auth: { type: 'basic', ...user } },
      });
      await pullAndCompare('acme/locked/team/app', '1', app, 'locked');
      await proxy('acme', 'locked-anonymous', locked.url);
      await assert.rejects(skopeo.copy(pallet('acme/locked-anonymous/team/app', '1'), `oci:${dir('locked-anon')}:1`), /manifest unknown.*denied/);
    });

    it('pulls from a second Pallet with auth on, through its Bearer token flow', async (t) => {
      const origin = upstreamPallet();
      const challenge = (await fetch(`${origin.url}/v2/`)).headers.get('www-authenticate') ?? '';
      if (!/^Bearer /i.test(challenge)) {
        t.skip(`the upstream Pallet does not challenge /v2/ with Bearer yet (got ${JSON.stringify(challenge)}): auth is not on`);
        return;
      }
      await createSpace(origin, 'origin');
      await createRegistry(origin, { space: 'origin', identifier: 'images', packageType: 'docker', kind: 'local' });
      await new Skopeo({ username: 'admin', password: origin.adminPassword }).copy(app.ref, Skopeo.ref(origin.host, 'origin/images/team/app', '1'), {
        preserveDigests: true,
      });
      await createRegistry(server(), {
        space: 'acme',
        identifier: 'pallet-origin',
        packageType: 'docker',
        kind: 'upstream',
        upstream: { source: 'custom', url: origin.url, auth: { type: 'basic', username: 'admin', password: origin.adminPassword } },
      });
      await pullAndCompare('acme/pallet-origin/origin/images/team/app', '1', app, 'from-pallet');
      const tokenRequests = (await origin.logRecords()).filter((r) => r.msg === 'request' && String(r.url).startsWith('/v2/token'));
      assert.ok(tokenRequests.length > 0, 'the proxy asked the upstream Pallet for a token');
      assert.ok(tokenRequests.every((r) => r.status === 200));
    });
  });
});
