/**
 * `pallet scrub [--repair]`, run in-process against a SQLite + filesystem data dir that a
 * server wrote (and that then rotted on disk): exit codes, the report, progress lines.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { buildApp } from './app.js';
import { digestOf } from './base/digest.js';
import { loadConfig, type Config } from './config/config.js';
import { runScrubCommand, type ScrubIo } from './scrub-command.js';

function io(): ScrubIo & { out(): string; err(): string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  return { stdout, stderr, out: () => Buffer.concat(out).toString('utf8'), err: () => Buffer.concat(err).toString('utf8') };
}

describe('pallet scrub', () => {
  let dataDir: string;
  let config: Config;
  const good = randomBytes(5000);
  const bad = randomBytes(7000);

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-scrub-'));
    config = loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', adminPassword: 'scrub-admin-password', auth: { enabled: false } } });
    const app = await buildApp(config);
    try {
      await app.server.inject({ method: 'POST', url: '/api/v1/spaces', payload: { path: 'acme' } });
      await app.server.inject({ method: 'POST', url: '/api/v1/registries', payload: { space: 'acme', identifier: 'docker-local', packageType: 'docker', kind: 'local' } });
      for (const body of [good, bad]) {
        const res = await app.server.inject({
          method: 'POST',
          url: `/v2/acme/docker-local/app/blobs/uploads/?digest=${digestOf(body)}`,
          payload: body,
          headers: { 'content-type': 'application/octet-stream' },
        });
        assert.equal(res.statusCode, 201, res.body);
      }
      const space = await app.services.store.findSpace('acme');
      assert.ok(space);
      const hex = digestOf(bad).slice('sha256:'.length);
      await writeFile(join(dataDir, 'storage', 'blobs', space.id, 'sha256', hex.slice(0, 2), hex), randomBytes(bad.length));
    } finally {
      await app.server.close();
    }
  });

  after(() => rm(dataDir, { recursive: true, force: true }));

  it('reports a mismatch and exits 4 without --repair; quarantines it and exits 0 with it', async () => {
    const check = io();
    assert.equal(await runScrubCommand(config, false, check), 4);
    const report = JSON.parse(check.out()) as { checked: number; mismatched: number; findings: Array<{ digest: string; action: string }> };
    assert.equal(report.checked, 2);
    assert.equal(report.mismatched, 1);
    assert.deepEqual(report.findings.map((f) => [f.digest, f.action]), [[digestOf(bad), 'reported']]);
    assert.match(check.err(), new RegExp(`${digestOf(bad)}: bytes hash to sha256:[0-9a-f]{64}`));
    assert.match(check.err(), /checked 2 blobs/);

    const repair = io();
    assert.equal(await runScrubCommand(config, true, repair), 0);
    assert.match(repair.err(), /quarantined to quarantine\//);

    const after = io();
    assert.equal(await runScrubCommand(config, false, after), 0);
    assert.equal((JSON.parse(after.out()) as { checked: number }).checked, 1, 'the bad blob row is gone');
  });
});
