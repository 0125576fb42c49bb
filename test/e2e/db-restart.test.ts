/**
 * A PostgreSQL restart under load: `pallet serve` runs on a private cluster (its own initdb and
 * port) while 4 clients push images; the cluster is stopped (`pg_ctl stop -m fast`, then in a
 * second round `-m immediate`, i.e. a crash) and started again. The process must stay up,
 * answer 503 + Retry-After with the right error body on every surface while the database is
 * down, fail /readyz, and take pushes again on its own once the database is back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDockerRegistry, createRegistry } from '../helpers/api.js';
import { basicAuth, PushFailed, pushImage, send, type Answer } from '../helpers/oci-push.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';
import { startServer, type PalletServer } from '../helpers/server.js';

const REPO = 'acme/docker-local';
const PUSHERS = 4;

interface Load {
  /** Every answer seen, with when its request finished. */
  answers: Array<{ answer: Answer; at: number }>;
  /** Requests that got no HTTP answer at all (reset, refused). */
  transportErrors: Error[];
  /** Pushes that went through, per pusher. */
  pushed: number[];
  stop(): Promise<void>;
}

/** 4 pushers pushing small images in a loop until stopped; failures are recorded, not thrown. */
function startLoad(server: PalletServer, round: string): Load {
  let running = true;
  const load: Load = { answers: [], transportErrors: [], pushed: Array<number>(PUSHERS).fill(0), stop: async () => undefined };
  const loops = Array.from({ length: PUSHERS }, async (_, p) => {
    for (let n = 0; running; n++) {
      try {
        await pushImage(server, `${REPO}/load-${p}`, `${round}-${n}`, { seen: (answer) => load.answers.push({ answer, at: Date.now() }) });
        load.pushed[p]! += 1;
      } catch (err) {
        if (!(err instanceof PushFailed)) load.transportErrors.push(err as Error);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  });
  load.stop = async () => {
    running = false;
    await Promise.all(loops);
  };
  return load;
}

/**
 * Starts a chunked upload and sends its PATCH body in two halves: the first now, the second
 * once `release` resolves (after the database went down). Resolves to the PATCH's answer.
 */
async function inFlightPatch(server: PalletServer, release: Promise<void>): Promise<Answer> {
  const started = await send(server, 'POST', `/v2/${REPO}/stream/blobs/uploads/`);
  assert.equal(started.status, 202, started.body.toString());
  const location = started.headers.get('location') ?? '';
  const half = Buffer.alloc(256 * 1024, 9);
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(Uint8Array.from(half));
      await release;
      controller.enqueue(Uint8Array.from(half));
      controller.close();
    },
  });
  const res = await fetch(`${server.url}${location}`, {
    method: 'PATCH',
    headers: { authorization: basicAuth(server), 'content-type': 'application/octet-stream' },
    body,
    duplex: 'half',
    signal: AbortSignal.timeout(60_000),
  } as RequestInit);
  return { method: 'PATCH', path: location, status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function status(server: PalletServer, path: string): Promise<number> {
  return (await fetch(`${server.url}${path}`, { signal: AbortSignal.timeout(10_000) })).status;
}

function assertUnavailable(answer: Answer, surface: 'oci' | 'api' | 'helm'): void {
  const where = `${answer.method} ${answer.path}`;
  assert.equal(answer.status, 503, `${where}: ${answer.body.toString()}`);
  const retryAfter = Number(answer.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter > 0, `${where} carries Retry-After (got ${answer.headers.get('retry-after')})`);
  const body = JSON.parse(answer.body.toString()) as { errors?: Array<{ code: string }>; code?: string; error?: string };
  if (surface === 'oci') assert.equal(body.errors?.[0]?.code, 'UNAVAILABLE', where);
  if (surface === 'api') assert.equal(body.code, 'UNAVAILABLE', where);
  if (surface === 'helm') assert.match(body.error ?? '', /database/i, where);
}

describe('a PostgreSQL restart under concurrent pushes', () => {
  let cluster: PgCluster;
  let server: PalletServer;

  before(async () => {
    cluster = await startPgCluster();
    server = await startServer({ label: 'e2e-db-restart', env: { PALLET_DATABASE_URL: cluster.url } });
    await createDockerRegistry(server, 'acme', 'docker-local');
    await createRegistry(server, { space: 'acme', identifier: 'charts', packageType: 'helm', kind: 'local' });
  });

  after(async () => {
    if (server) {
      const failedTail = await server.logTail(60);
      if (process.exitCode) process.stderr.write(`--- ${server.logFile} ---\n${failedTail}\n`);
      await server.stop();
    }
    await cluster?.destroy();
  });

  for (const mode of ['fast', 'immediate'] as const) {
    it(`stays up, answers 503 + Retry-After and recovers on its own (pg_ctl stop -m ${mode})`, async () => {
      const load = startLoad(server, mode);
      try {
        await until('every pusher has pushed once', () => load.pushed.every((n) => n > 0));
        let stopped = (): void => undefined;
        const patch = inFlightPatch(server, new Promise<void>((resolve) => (stopped = resolve)));
        await new Promise((resolve) => setTimeout(resolve, 200));
        await cluster.stop(mode);
        stopped();
        assertUnavailable(await patch, 'oci');
        const stoppedAt = Date.now();
        // Every pusher keeps going; wait for several answers to requests made during the outage.
        await until(
          'the pushers have seen the outage',
          () => load.transportErrors.length > 0 || load.answers.filter((a) => a.at > stoppedAt + 200).length >= 3 * PUSHERS,
          30_000,
        );
        assert.deepEqual(load.transportErrors.map((e) => String(e.cause ?? e.message)), [], 'every request got an HTTP answer');
        assert.equal(await status(server, '/healthz'), 200, 'the process is alive');
        assert.equal(await status(server, '/readyz'), 503, '/readyz fails while the database is down');
        assertUnavailable(await send(server, 'GET', `/v2/${REPO}/load-0/tags/list`), 'oci');
        assertUnavailable(await send(server, 'GET', '/api/v1/spaces'), 'api');
        assertUnavailable(await send(server, 'GET', '/pkg/acme/charts/helm/index.yaml'), 'helm');
        const during = load.answers.filter((a) => a.at > stoppedAt + 200);
        for (const { answer } of during) assertUnavailable(answer, 'oci');
      } finally {
        await load.stop();
      }
      assert.deepEqual(load.transportErrors.map((e) => String(e.cause ?? e.message)), [], 'every request got an HTTP answer');
      const failures = load.answers.filter(({ answer }) => answer.status >= 500 && answer.status !== 503);
      assert.deepEqual(failures.map(({ answer }) => `${answer.method} ${answer.path} ${answer.status}`), [], 'no 500s');

      await cluster.start();
      await until('/readyz is ok again', async () => (await status(server, '/readyz')) === 200);
      const digests = await Promise.all(Array.from({ length: PUSHERS }, (_, p) => pushImage(server, `${REPO}/load-${p}`, `${mode}-after`)));
      assert.equal(digests.length, PUSHERS);
      const tags = await send(server, 'GET', `/v2/${REPO}/load-0/tags/list`);
      assert.equal(tags.status, 200);
      assert.ok((JSON.parse(tags.body.toString()) as { tags: string[] }).tags.includes(`${mode}-after`));
      assert.equal(await status(server, '/healthz'), 200, 'the same process served before, during and after');
    });
  }
});
