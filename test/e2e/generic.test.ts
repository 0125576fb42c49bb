/**
 * Generic files with the real clients against a real `pallet serve` (auth on): curl uploads
 * (`-T`, with and without `X-Checksum-Sha256`) and downloads (`-O`, `-r` ranges), wget
 * downloads with a Bearer access token. A 1 GiB file of random bytes makes the round trip byte
 * for byte (compared by SHA-256, streamed); temp files are removed as soon as they are checked.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../helpers/run.js';
import { useServer } from '../helpers/server.js';

const GIB = 1024 ** 3;

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe('generic files with curl and wget', () => {
  const server = useServer({ label: 'e2e-generic' });
  let dir: string;
  let password: string;
  let token: string;
  const base = () => `${server().url}/pkg/acme/files/generic`;
  const basic = (user: string, pw: string): string => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

  async function api(method: string, path: string, body: unknown, authorization = basic('admin', server().adminPassword)): Promise<Record<string, unknown>> {
    const res = await fetch(`${server().url}/api/v1${path}`, { method, headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  /** curl, answering the status code it got (`--fail` is left to the caller's assertion). */
  async function curl(args: string[]): Promise<number> {
    const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-u', `alice:${password}`, ...args], { timeoutMs: 300_000 });
    return Number(stdout);
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pallet-e2e-generic-'));
    password = `alice-${Date.now()}-pw`;
    await api('POST', '/spaces', { path: 'acme' });
    await api('POST', '/registries', { space: 'acme', identifier: 'files', packageType: 'generic', kind: 'local' });
    await api('POST', '/users', { username: 'alice', password });
    await api('PUT', '/spaces/acme/members/alice', { role: 'writer' });
    token = (await api('POST', '/user/tokens', { name: 'wget', scopes: ['read'], expiresInDays: 1 }, basic('alice', password))).token as string;
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('round-trips a 1 GiB file byte for byte: curl -T up, curl -O and wget down, curl -r ranges', async () => {
    const source = join(dir, 'big.bin');
    await run('sh', ['-c', `head -c ${GIB} /dev/urandom > '${source}'`], { timeoutMs: 120_000 });
    const digest = await sha256File(source);
    const url = `${base()}/big/1.0.0/images/big.bin`;
    assert.equal(await curl(['-T', source, url]), 201);

    await run('curl', ['-sS', '--fail', '-u', `alice:${password}`, '-o', join(dir, 'curl.bin'), url], { timeoutMs: 300_000 });
    assert.equal(await sha256File(join(dir, 'curl.bin')), digest, 'curl downloads the same bytes');
    await rm(join(dir, 'curl.bin'));
    await run('wget', ['-q', '--header', `Authorization: Bearer ${token}`, '-O', join(dir, 'wget.bin'), url], { timeoutMs: 300_000 });
    assert.equal(await sha256File(join(dir, 'wget.bin')), digest, 'wget downloads the same bytes');
    await rm(join(dir, 'wget.bin'));

    const file = await open(source);
    try {
      for (const [start, end] of [[0, 99], [GIB - 4096, GIB - 1], [123_456_789, 123_556_788]] as const) {
        const { stdoutBytes } = await run('curl', ['-sS', '--fail', '-u', `alice:${password}`, '-r', `${start}-${end}`, url]);
        const expected = Buffer.alloc(end - start + 1);
        await file.read(expected, 0, expected.length, start);
        assert.ok(stdoutBytes.equals(expected), `range ${start}-${end}`);
      }
    } finally {
      await file.close();
    }
    assert.equal(await curl(['-r', `${GIB}-`, url]), 416);
    assert.equal(await curl(['-T', source, url]), 200, 'the same 1 GiB again is a retry');
    await rm(source);
  });

  it('downloads with curl -O into a file named after the URL, and with wget into the current directory', async () => {
    const data = Buffer.from(`a small file ${Date.now()}\n`);
    await writeFile(join(dir, 'notes.txt'), data);
    assert.equal(await curl(['-T', join(dir, 'notes.txt'), `${base()}/notes/2.0/notes.txt`]), 201);
    const pulled = await mkdtemp(join(dir, 'pulled-'));
    await run('curl', ['-sS', '--fail', '-u', `alice:${password}`, '-O', `${base()}/notes/2.0/notes.txt`], { cwd: pulled });
    assert.equal((await stat(join(pulled, 'notes.txt'))).size, data.length);
    await rm(join(pulled, 'notes.txt'));
    await run('wget', ['-q', '--header', `Authorization: Bearer ${token}`, `${base()}/notes/2.0/notes.txt`], { cwd: pulled });
    assert.equal(await sha256File(join(pulled, 'notes.txt')), createHash('sha256').update(data).digest('hex'));
  });

  it('verifies X-Checksum-Sha256 and refuses other bytes at a path with 409', async () => {
    const data = Buffer.from('checked\n');
    const path = join(dir, 'checked.txt');
    await writeFile(path, data);
    const hex = createHash('sha256').update(data).digest('hex');
    const url = `${base()}/checked/1.0/checked.txt`;
    assert.equal(await curl(['-H', `X-Checksum-Sha256: ${'0'.repeat(64)}`, '-T', path, url]), 400);
    assert.equal(await curl(['-H', `X-Checksum-Sha256: ${hex}`, '-T', path, url]), 201);
    await writeFile(path, 'other bytes\n');
    assert.equal(await curl(['-T', path, url]), 409);
    assert.equal(await curl(['-X', 'DELETE', url]), 204);
    assert.equal(await curl(['-T', path, url]), 201, 'a deleted path takes new bytes');
    assert.equal(await curl(['-T', path, `${base()}/checked/1.0/../../evil.txt`, '--path-as-is']), 400);
  });
});
