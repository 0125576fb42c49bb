/**
 * Config precedence and validation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS, formatSection, loadConfig } from './config.js';
import { isPalletError } from '../base/errors.js';

describe('config', () => {
  it('defaults to port 5000, ./data and SQLite', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.port, 5000);
    assert.equal(c.dataDir, './data');
    assert.equal(c.database.url, '');
    assert.equal(c.storage, 'filesystem');
  });

  it('layers file, then PALLET_* env, then flags', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pallet-config-'));
    const file = join(dir, 'pallet.yaml');
    await writeFile(file, 'port: 6000\ndataDir: /srv/a\ndatabase:\n  url: postgres://file\ns3:\n  forcePathStyle: false\n');
    const fromFile = loadConfig({ file, env: {} });
    assert.equal(fromFile.port, 6000);
    assert.equal(fromFile.s3.forcePathStyle, false);
    const withEnv = loadConfig({ file, env: { PALLET_PORT: '7000', PALLET_DATABASE_URL: 'postgres://env', PALLET_S3_FORCE_PATH_STYLE: 'true' } });
    assert.equal(withEnv.port, 7000);
    assert.equal(withEnv.database.url, 'postgres://env');
    assert.equal(withEnv.s3.forcePathStyle, true);
    assert.equal(withEnv.dataDir, '/srv/a');
    const withFlags = loadConfig({ file, env: { PALLET_PORT: '7000' }, flags: { port: '8000' } });
    assert.equal(withFlags.port, 8000);
  });

  it('maps every key to a PALLET_ variable', () => {
    const c = loadConfig({ env: { PALLET_LIMITS_MANIFEST_BYTES: '10', PALLET_UPLOADS_STALE_AFTER_SECONDS: '5', PALLET_STORAGE: 'memory' } });
    assert.equal(c.limits.manifestBytes, 10);
    assert.equal(c.uploads.staleAfterSeconds, 5);
    assert.equal(c.storage, 'memory');
    assert.equal(DEFAULTS.port, 5000, 'defaults are not mutated');
  });

  it('rejects unknown keys, wrong types and unknown storage drivers with a clear message', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pallet-config-'));
    const bad: Array<[string, RegExp]> = [
      ['prot: 1\n', /unknown key prot/],
      ['port: abc\n', /port: expected a number/],
      ['database: 3\n', /database: expected a section/],
      ['storage: floppy\n', /storage: expected filesystem, memory or s3/],
      ['- a\n- b\n', /unknown key 0/],
    ];
    for (const [text, message] of bad) {
      const file = join(dir, 'bad.yaml');
      await writeFile(file, text);
      assert.throws(() => loadConfig({ file, env: {} }), (err: unknown) => isPalletError(err, 'INVALID_ARGUMENT') && message.test(err.message));
    }
    assert.throws(() => loadConfig({ env: { PALLET_S3_FORCE_PATH_STYLE: 'maybe' } }), /expected true or false/);
  });

  it("loads a format's section from file and PALLET_ env with its own types, and refuses its keys when the format is not served", async () => {
    const sections = { demo: { maxWidgets: 3, enabled: false, name: 'x' } };
    const dir = await mkdtemp(join(tmpdir(), 'pallet-config-'));
    const file = join(dir, 'pallet.yaml');
    await writeFile(file, 'demo:\n  maxWidgets: 7\n');
    const c = loadConfig({ file, env: { PALLET_DEMO_ENABLED: 'true' }, sections });
    assert.deepEqual(c.sections.demo, { maxWidgets: 7, enabled: true, name: 'x' });
    assert.equal(formatSection(c, 'demo', sections.demo).maxWidgets, 7);
    assert.equal(formatSection(loadConfig({ env: {} }), 'demo', sections.demo).maxWidgets, 3);
    assert.throws(() => loadConfig({ env: { PALLET_DEMO_MAX_WIDGETS: 'many' }, sections }), /config demo.maxWidgets: expected a number/);
    assert.throws(() => loadConfig({ file, env: {} }), /unknown key demo/);
    assert.throws(() => loadConfig({ env: {}, sections: { server: { x: 1 } } }), /clashes with a core key/);
  });
});
