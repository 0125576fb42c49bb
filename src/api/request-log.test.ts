/**
 * Work the API starts in the domain logs with the request's id: the storage reclaim (a GC
 * sweep of the root space) that follows deleting an artifact or a registry, and a cleanup run,
 * write their lines through the request's logger, so each carries the `reqId` the response names.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../app.js';
import { createDockerRegistry, pushImage, startInProcess, type Harness } from '../../test/helpers/inproc.js';

interface LogLine {
  reqId?: string;
  msg?: string;
  gc?: { blobs?: number; bytes?: number };
  cleanup?: { deletedVersions?: number };
}

describe('request ids in domain logs', () => {
  let h: Harness;
  const lines: LogLine[] = [];

  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as LogLine);
        done();
      },
    });
    h = await startInProcess({ logLevel: 'info' }, (config) => createLogger(config, sink));
    await createDockerRegistry(h, 'acme', 'logged');
  });
  after(async () => h.close());

  async function logged(method: 'DELETE' | 'POST', url: string, status: number, message: string): Promise<LogLine> {
    const res = await h.app.server.inject({ method, url, headers: { ...h.auth, 'x-request-id': `req-${randomBytes(4).toString('hex')}` } });
    assert.equal(res.statusCode, status, res.body);
    const reqId = res.headers['x-request-id'];
    assert.ok(typeof reqId === 'string' && reqId.length > 0);
    const line = lines.find((l) => l.msg === message && l.reqId === reqId);
    assert.ok(line, `a "${message}" line with reqId ${reqId}; got ${JSON.stringify(lines.filter((l) => l.msg?.includes(':')))}`);
    return line;
  }

  it('deleting an artifact logs the reclaim of its blobs with the request id', async () => {
    await pushImage(h, 'acme/logged/app', 'v1', [randomBytes(64)]);
    const line = await logged('DELETE', '/api/v1/registries/acme/logged/artifacts/app', 204, 'gc: reclaimed the storage of a deleted artifact');
    assert.equal(line.gc?.blobs, 2, 'the config and the layer went');
  });

  it('a cleanup run logs what it deleted with the request id', async () => {
    await createDockerRegistry(h, 'acme', 'tidy');
    await pushImage(h, 'acme/tidy/app', 'v1', [randomBytes(64)]);
    await pushImage(h, 'acme/tidy/app', 'v2', [randomBytes(64)]);
    assert.equal((await h.call('PATCH', '/api/v1/registries/acme/tidy', { cleanupPolicy: { keepLastVersions: 1 } })).status, 200);
    const line = await logged('POST', '/api/v1/registries/acme/tidy/cleanup', 200, 'cleanup: deleted versions');
    assert.equal(line.cleanup?.deletedVersions, 1);
  });

  it('deleting a registry logs the reclaim with the request id', async () => {
    await pushImage(h, 'acme/logged/other', 'v1', [randomBytes(64)]);
    const line = await logged('DELETE', '/api/v1/registries/acme/logged', 204, 'gc: reclaimed the storage of a deleted registry');
    assert.equal(line.gc?.blobs, 2);
  });
});
