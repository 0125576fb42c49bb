/**
 * Upload integrity: whatever order concurrent PATCH and PUT requests on one upload session
 * arrive in, at one replica or spread over two, every blob the registry serves hashes to its
 * digest; a lost race stores nothing; a layer stored with bytes that do not match its digest
 * (before this fix, or by bit rot) is never deduplicated onto a push of the right bytes.
 *
 * Deployments: SQLite + filesystem (one replica, and two replicas sharing the database file
 * and the data directory) and PostgreSQL + S3 (s3rver on loopback, two replicas).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Registry as MetricsRegistry } from 'prom-client';
import { buildApp, type App } from '../app.js';
import { silentLog } from '../base/log.js';
import { loadConfig } from '../config/config.js';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from '../metadata/test-databases.js';
import { blobKey } from '../storage/keys.js';
import type { GcStore } from '../metadata/gc-store.js';
import type { ScrubStore } from '../metadata/scrub-store.js';
import { Scrubber } from './scrub.js';
import { startS3, type S3Server } from '../../test/helpers/s3.js';
import { createDockerRegistry, startInProcess, type Harness } from '../../test/helpers/inproc.js';

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const ROOT = 'acme';
const REPO = 'acme/docker-local/race';
const PIECE = 8 * 1024;

interface Replica {
  app: App;
  auth: Record<string, string>;
}

interface Deployment {
  replicas: Replica[];
  close(): Promise<void>;
}

/** A body that arrives in small pieces with a turn of the event loop between them. */
function trickle(data: Buffer): Readable {
  let offset = 0;
  return new Readable({
    read() {
      setImmediate(() => {
        if (offset >= data.length) {
          this.push(null);
          return;
        }
        this.push(data.subarray(offset, offset + PIECE));
        offset += PIECE;
      });
    },
  });
}

async function request(r: Replica, method: string, url: string, body?: Buffer, headers: Record<string, string> = {}) {
  const res = await r.app.server.inject({
    method: method as 'GET',
    url,
    headers: { ...r.auth, ...(body ? { 'content-type': 'application/octet-stream', 'content-length': String(body.length) } : {}), ...headers },
    ...(body ? { payload: trickle(body) } : {}),
  });
  return { status: res.statusCode, headers: res.headers, body: res.rawPayload, text: res.body };
}

async function startDeployment(kind: 'sqlite-fs' | 'postgres-s3', replicas: number, s3?: S3Server): Promise<Deployment> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pallet-integrity-'));
  const schema = testSchema();
  const adminPassword = `integrity-${randomBytes(6).toString('hex')}`;
  const flags: Record<string, unknown> = { dataDir, logLevel: 'silent', baseUrl: 'http://registry.test', adminPassword };
  if (kind === 'postgres-s3') {
    assert.ok(s3);
    const bucket = await s3.bucket('integrity');
    Object.assign(flags, {
      database: { url: TEST_DATABASE_URL, schema },
      storage: 's3',
      s3: { endpoint: s3.endpoint, bucket, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', forcePathStyle: true },
    });
  }
  const auth = { authorization: `Basic ${Buffer.from(`admin:${adminPassword}`).toString('base64')}` };
  const apps: Replica[] = [];
  // One after the other: the first creates the schema and the admin user.
  for (let i = 0; i < replicas; i++) apps.push({ app: await buildApp(loadConfig({ env: {}, flags })), auth });
  const first = apps[0]!;
  const space = await first.app.server.inject({ method: 'POST', url: '/api/v1/spaces', headers: auth, payload: { path: ROOT } });
  assert.equal(space.statusCode, 201, space.body);
  for (const identifier of ['docker-local', 'other']) {
    const reg = await first.app.server.inject({
      method: 'POST',
      url: '/api/v1/registries',
      headers: auth,
      payload: { space: ROOT, identifier, packageType: 'docker', kind: 'local' },
    });
    assert.equal(reg.statusCode, 201, reg.body);
  }
  return {
    replicas: apps,
    async close() {
      for (const r of apps) await r.app.server.close();
      await rm(dataDir, { recursive: true, force: true });
      if (kind === 'postgres-s3') await dropTestSchema(schema);
    },
  };
}

type Step = { kind: 'patch'; body: Buffer } | { kind: 'put'; body?: Buffer; digest: string };

/** Deterministic pseudo-random choices, so a failing round can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * One round: a session gets an optional first chunk, then 2–3 requests race on it (PATCHes of
 * different bodies of one size, PUTs with or without a last chunk, naming the digest of one of
 * the possible contents). Resolves to the digests the registry said it stored.
 */
async function raceRound(d: Deployment, random: () => number): Promise<string[]> {
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const replica = (): Replica => pick(d.replicas);
  const start = await request(replica(), 'POST', `/v2/${REPO}/blobs/uploads/`);
  assert.equal(start.status, 202, start.text);
  const location = String(start.headers.location);
  const prefix = random() < 0.5 ? randomBytes(24 * 1024) : Buffer.alloc(0);
  if (prefix.length > 0) {
    const first = await request(replica(), 'PATCH', location, prefix);
    assert.equal(first.status, 202, first.text);
  }
  const bodies = [randomBytes(64 * 1024), randomBytes(64 * 1024), randomBytes(64 * 1024)];
  const steps: Step[] = [];
  const count = 2 + Math.floor(random() * 2);
  for (let i = 0; i < count; i++) {
    const body = bodies[i]!;
    const choice = random();
    if (choice < 0.5) steps.push({ kind: 'patch', body });
    else if (choice < 0.8) steps.push({ kind: 'put', body, digest: sha256(Buffer.concat([prefix, body])) });
    else steps.push({ kind: 'put', digest: sha256(Buffer.concat([prefix, pick(bodies)])) });
  }
  const results = await Promise.all(
    steps.map(async (step) => {
      const r = replica();
      if (step.kind === 'patch') return { step, res: await request(r, 'PATCH', location, step.body) };
      const url = `${location}?digest=${step.digest}`;
      return { step, res: await request(r, 'PUT', url, step.body) };
    }),
  );
  const stored: string[] = [];
  for (const { step, res } of results) {
    assert.ok(res.status < 500, `${step.kind}: ${res.status} ${res.text}`);
    if (step.kind === 'put' && res.status === 201) stored.push(step.digest);
  }
  return stored;
}

async function assertServedBytesMatch(d: Deployment, digests: string[]): Promise<void> {
  for (const digest of digests) {
    for (const r of d.replicas) {
      const res = await request(r, 'GET', `/v2/${REPO}/blobs/${digest}`);
      assert.equal(res.status, 200, res.text);
      assert.equal(sha256(res.body), digest, `the bytes served for ${digest} hash to it`);
    }
  }
}

const deployments: Array<{ name: string; kind: 'sqlite-fs' | 'postgres-s3'; replicas: number }> = [
  { name: 'SQLite + filesystem, one replica', kind: 'sqlite-fs', replicas: 1 },
  { name: 'SQLite + filesystem, two replicas', kind: 'sqlite-fs', replicas: 2 },
  { name: 'PostgreSQL + S3, two replicas', kind: 'postgres-s3', replicas: 2 },
];

for (const deployment of deployments) {
  describe(`upload integrity: ${deployment.name}`, () => {
    let s3: S3Server | undefined;
    let d: Deployment;
    before(async () => {
      if (deployment.kind === 'postgres-s3') s3 = await startS3();
      d = await startDeployment(deployment.kind, deployment.replicas, s3);
    });
    after(async () => {
      await d?.close();
      await s3?.stop();
    });

    it('concurrent PATCH and PUT requests on one session never store bytes that differ from the digest', async () => {
      const random = rng(deployment.replicas * 7919 + (deployment.kind === 'postgres-s3' ? 1 : 0));
      const rounds = deployment.kind === 'postgres-s3' ? 12 : 25;
      let stored = 0;
      for (let round = 0; round < rounds; round++) {
        const digests = await raceRound(d, random);
        stored += digests.length;
        await assertServedBytesMatch(d, digests);
      }
      assert.ok(stored > 0, 'some rounds stored a blob');
    });

    it('two PATCHes at one offset: one is accepted, the other gets a 4xx and stores nothing', async () => {
      const r = d.replicas;
      const start = await request(r[0]!, 'POST', `/v2/${REPO}/blobs/uploads/`);
      const location = String(start.headers.location);
      const a = randomBytes(96 * 1024);
      const b = randomBytes(96 * 1024);
      const [ra, rb] = await Promise.all([
        request(r[0]!, 'PATCH', location, a),
        request(r[r.length - 1]!, 'PATCH', location, b),
      ]);
      const statuses = [ra.status, rb.status].sort();
      assert.equal(statuses[0], 202, `${ra.text} ${rb.text}`);
      assert.ok(statuses[1]! >= 400 && statuses[1]! < 500, `the loser gets a 4xx, got ${statuses[1]}`);
      const winner = ra.status === 202 ? a : b;
      const loser = ra.status === 202 ? b : a;
      const bad = await request(r[0]!, 'PUT', `${location}?digest=${sha256(loser)}`);
      assert.equal(bad.status, 400, 'the loser body was not stored');
      // DIGEST_INVALID discarded the session; a fresh one with the winner's bytes goes through.
      const again = await request(r[0]!, 'POST', `/v2/${REPO}/blobs/uploads/?digest=${sha256(winner)}`, winner);
      assert.equal(again.status, 201, again.text);
      await assertServedBytesMatch(d, [sha256(winner)]);
    });

    it('a push of the right bytes replaces a stored blob whose bytes do not match its digest', async () => {
      const app = d.replicas[0]!.app;
      const good = randomBytes(40 * 1024);
      const digest = sha256(good);
      // The state the old commit path could leave: a row and a link for `digest` whose
      // bytes are those of another body of the same size (a lost PATCH race).
      const root = await app.services.store.findSpace(ROOT);
      assert.ok(root);
      const registry = await app.services.store.findRegistry(root.id, 'docker-local');
      assert.ok(registry);
      const repo = await app.services.store.ensureRepository(registry.id, 'poisoned');
      await app.services.driver.write(blobKey(root.id, digest), randomBytes(good.length));
      await app.services.store.commitBlob(root.id, repo.id, digest, good.length);

      const pushed = await request(d.replicas[d.replicas.length - 1]!, 'POST', `/v2/acme/other/app/blobs/uploads/?digest=${digest}`, good);
      assert.equal(pushed.status, 201, pushed.text);
      const res = await request(d.replicas[0]!, 'GET', `/v2/acme/other/app/blobs/${digest}`);
      assert.equal(res.status, 200);
      assert.equal(sha256(res.body), digest, 'the other registry serves the bytes it pushed');
    });

    it('scrub reports bad bytes, quarantines them with --repair, and verifies the good ones', async () => {
      const app = d.replicas[0]!.app;
      const { scrub } = app.services;
      const root = await app.services.store.findSpace(ROOT);
      assert.ok(root);
      const good = randomBytes(30 * 1024);
      const rotten = randomBytes(30 * 1024);
      for (const body of [good, rotten]) {
        const res = await request(d.replicas[0]!, 'POST', `/v2/${REPO}/blobs/uploads/?digest=${sha256(body)}`, body);
        assert.equal(res.status, 201, res.text);
      }
      // Bit rot: the stored bytes of `rotten` change under the registry.
      const flipped = Buffer.from(rotten);
      flipped[100] = flipped[100]! ^ 0xff;
      await app.services.driver.write(blobKey(root.id, sha256(rotten)), flipped);

      const check = await scrub.run();
      const bad = check.findings.filter((f) => f.digest === sha256(rotten));
      assert.deepEqual(
        bad.map((f) => ({ problem: f.problem, action: f.action, computed: f.computed })),
        [{ problem: 'mismatch', action: 'reported', computed: sha256(flipped) }],
      );
      assert.ok(!check.findings.some((f) => f.digest === sha256(good)));
      assert.equal((await request(d.replicas[0]!, 'GET', `/v2/${REPO}/blobs/${sha256(rotten)}`)).status, 200, 'a check changes nothing');

      const repaired = await scrub.run({ repair: true });
      const fixed = repaired.findings.find((f) => f.digest === sha256(rotten));
      assert.equal(fixed?.action, 'quarantined');
      assert.ok(fixed.quarantineKey);
      const kept = await app.services.driver.read(fixed.quarantineKey);
      const keptBytes: Buffer[] = [];
      for await (const chunk of kept) keptBytes.push(chunk as Buffer);
      assert.ok(Buffer.concat(keptBytes).equals(flipped), 'the bad bytes are kept in quarantine');
      for (const r of d.replicas) {
        const res = await request(r, 'GET', `/v2/${REPO}/blobs/${sha256(rotten)}`);
        assert.equal(res.status, 404, 'clients get BLOB_UNKNOWN, not wrong bytes');
        assert.equal(JSON.parse(res.text).errors[0].code, 'BLOB_UNKNOWN');
      }
      const clean = await scrub.run();
      assert.deepEqual(clean.findings.filter((f) => f.problem === 'mismatch'), []);
      assert.equal(clean.newlyVerified, 0, 'every good blob was marked verified by the first runs');
      // A push of the right bytes stores them again.
      const again = await request(d.replicas[d.replicas.length - 1]!, 'POST', `/v2/${REPO}/blobs/uploads/?digest=${sha256(rotten)}`, rotten);
      assert.equal(again.status, 201, again.text);
      await assertServedBytesMatch(d, [sha256(rotten), sha256(good)]);
    });

    it('scrub --repair leaves a blob whose bytes an upload replaced between its read and its claim', async () => {
      const app = d.replicas[0]!.app;
      const scrubber = app.services.scrub;
      const root = await app.services.store.findSpace(ROOT);
      assert.ok(root);
      const body = randomBytes(20 * 1024);
      const digest = sha256(body);
      assert.equal((await request(d.replicas[0]!, 'POST', `/v2/${REPO}/blobs/uploads/?digest=${digest}`, body)).status, 201);
      const rotten = Buffer.from(body);
      rotten[7] = rotten[7]! ^ 0xff;
      await app.services.driver.write(blobKey(root.id, digest), rotten);
      // As stored before uploads verified what they committed: a push replaces such bytes.
      const real: ScrubStore = Reflect.get(scrubber, 'store');
      await real.markUnverified({ rootSpaceId: root.id, digest });
      // The widest window: right after scrub has hashed the rotten bytes, a push of the right
      // bytes lands (and is answered 201) before the repair claims the row.
      let pushed = 0;
      const racing: ScrubStore = {
        listBlobs: (q) => real.listBlobs(q),
        markVerified: (k, size) => real.markVerified(k, size),
        async markUnverified(k) {
          if (k.digest === digest && pushed++ === 0) {
            const res = await request(d.replicas[d.replicas.length - 1]!, 'POST', `/v2/acme/docker-local/healer/blobs/uploads/?digest=${digest}`, body);
            assert.equal(res.status, 201, res.text);
          }
          return real.markUnverified(k);
        },
        claimCorrupt: (k, now, by) => real.claimCorrupt(k, now, by),
        unclaimVerified: (k, by) => real.unclaimVerified(k, by),
        deleteClaimedWithLinks: (k) => real.deleteClaimedWithLinks(k),
      };
      const locks: Pick<GcStore, 'withLock'> = Reflect.get(scrubber, 'locks');
      const report = await new Scrubber(racing, app.services.driver, silentLog, new MetricsRegistry(), locks).run({ repair: true });
      assert.equal(pushed, 1);
      assert.equal(report.findings.find((f) => f.digest === digest)?.action, 'skipped');
      for (const repo of [REPO, 'acme/docker-local/healer']) {
        const res = await request(d.replicas[0]!, 'GET', `/v2/${repo}/blobs/${digest}`);
        assert.equal(res.status, 200, `${repo} still serves the blob it was told is stored`);
        assert.equal(sha256(res.body), digest);
      }
      const again = await scrubber.run();
      assert.ok(!again.findings.some((f) => f.digest === digest), 'the repaired blob is clean and verified');
    });
  });
}

describe('open upload sessions per user', () => {
  let h: Harness;
  before(async () => {
    h = await startInProcess({ uploads: { maxOpenSessionsPerUser: 2 } });
    await createDockerRegistry(h, 'acme', 'docker-local');
  });
  after(() => h.close());

  it('answers 429 TOOMANYREQUESTS naming the limit, and admits a new session once one is closed', async () => {
    const start = () => h.app.server.inject({ method: 'POST', url: '/v2/acme/docker-local/app/blobs/uploads/', headers: h.auth });
    const first = await start();
    assert.equal(first.statusCode, 202);
    assert.equal((await start()).statusCode, 202);
    const refused = await start();
    assert.equal(refused.statusCode, 429);
    const error = (JSON.parse(refused.body) as { errors: Array<{ code: string; message: string }> }).errors[0]!;
    assert.equal(error.code, 'TOOMANYREQUESTS');
    assert.match(error.message, /limit is 2 per user \(uploads\.maxOpenSessionsPerUser\)/);
    // A monolithic push opens no session the user keeps: it is not refused.
    const data = randomBytes(100);
    const mono = await h.app.server.inject({
      method: 'POST',
      url: `/v2/acme/docker-local/app/blobs/uploads/?digest=${sha256(data)}`,
      payload: data,
      headers: { ...h.auth, 'content-type': 'application/octet-stream' },
    });
    assert.equal(mono.statusCode, 201, mono.body);
    const cancelled = await h.app.server.inject({ method: 'DELETE', url: String(first.headers.location), headers: h.auth });
    assert.equal(cancelled.statusCode, 204);
    assert.equal((await start()).statusCode, 202);
  });
});
