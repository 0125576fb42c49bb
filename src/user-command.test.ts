/**
 * The operators' commands `pallet user add` and `pallet token create`, run in-process against
 * a SQLite data dir, then checked through the server they would serve with.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { buildApp } from './app.js';
import { isPalletError } from './base/errors.js';
import { loadConfig, type Config } from './config/config.js';
import { runTokenCreate, runUserAdd, type CommandIo } from './user-command.js';

function io(stdin = ''): CommandIo & { out(): string } {
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  return { stdin: Readable.from([stdin]), stdout, stderr: new PassThrough(), out: () => Buffer.concat(chunks).toString('utf8') };
}

describe('pallet user add / token create', () => {
  let dataDir: string;
  let config: Config;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-cli-'));
    config = loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', adminPassword: 'cli-admin-password' } });
  });

  after(() => rm(dataDir, { recursive: true, force: true }));

  it('creates a user with a generated password, one from stdin, and a token that works', async () => {
    const generated = io();
    assert.equal(await runUserAdd(config, { username: 'ci-bot' }, generated), 0);
    const password = generated.out().trim();
    assert.match(password, /^[A-Za-z0-9_-]{24}$/);
    assert.equal(await runUserAdd(config, { username: 'dev', admin: true, passwordStdin: true }, io('typed-password\n')), 0);
    const printed = io();
    assert.equal(await runTokenCreate(config, { username: 'ci-bot', name: 'ci', scopes: ['read', 'write'], expiresInDays: 7 }, printed), 0);
    const token = printed.out().trim();
    assert.match(token, /^pallet_/);

    const app = await buildApp(config);
    try {
      const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
      assert.equal((await app.server.inject({ method: 'GET', url: '/v2/', headers: basic('ci-bot', password) })).statusCode, 200);
      assert.equal((await app.server.inject({ method: 'GET', url: '/v2/', headers: basic('ci-bot', token) })).statusCode, 200);
      const me = await app.server.inject({ method: 'GET', url: '/api/v1/auth/me', headers: basic('dev', 'typed-password') });
      assert.equal((JSON.parse(me.body) as { user: { admin: boolean } }).user.admin, true);
    } finally {
      await app.server.close();
    }
  });

  it('refuses a token for a missing user and a duplicate user', async () => {
    await assert.rejects(runTokenCreate(config, { username: 'nobody', name: 'x' }, io()), (err: unknown) => isPalletError(err, 'NOT_FOUND'));
    await assert.rejects(runUserAdd(config, { username: 'ci-bot' }, io()), (err: unknown) => isPalletError(err, 'ALREADY_EXISTS'));
  });
});
