/**
 * npm registries with the real npm CLI (the one that ships with Node here) against a real
 * `pallet serve` (auth on). npm runs in a temporary HOME with its own userconfig and a fresh
 * cache, and never reaches the internet: `registry` points at Pallet, fund and the update
 * notifier are off, audit too except where it is tested (against Pallet). Covered: publish of
 * unscoped and scoped packages, `npm install` writing a lockfile whose integrity npm checks (a
 * tampered one fails `npm ci`), `npm ci`, dist-tag add/ls/rm, deprecate, unpublish of a version
 * and of a package, view, search, whoami, `npm audit` (no advisories), `npm login` (legacy and
 * the default web-first flow, both through a pseudo-terminal), a reader refused publishing
 * (403), anonymous installs from a public registry.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { useServer } from '../helpers/server.js';

interface Run {
  stdout: string;
  stderr: string;
}

describe('npm registries with the real npm CLI', () => {
  const server = useServer({ label: 'e2e-npm' });
  let home: string;
  let alicePassword: string;
  let aliceToken: string;
  let readerToken: string;
  const basic = (user: string, pw: string): string => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
  const registryUrl = (identifier = 'js') => `${server().url}/pkg/acme/${identifier}/npm/`;

  async function api(method: string, path: string, body?: unknown, auth = basic('admin', server().adminPassword)): Promise<any> {
    const res = await fetch(`${server().url}/api/v1${path}`, {
      method,
      headers: { authorization: auth, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  /** Writes a userconfig: the registry, optional token lines, quiet defaults, a cache of its own. */
  async function userconfig(name: string, lines: string[]): Promise<string> {
    const file = join(home, `${name}.npmrc`);
    const base = ['audit=false', 'fund=false', 'update-notifier=false', `cache=${join(home, `cache-${name}`)}`, 'loglevel=warn'];
    await writeFile(file, [...base, ...lines, ''].join('\n'));
    return file;
  }

  /**
   * The environment of every npm run: this process's, less the `npm_*` variables an outer `npm test`
   * exports (its cache, prefix and the machine's own npmrc settings such as
   * omit-lockfile-registry-resolved would override the test's userconfig).
   */
  const npmEnv = (config: string): NodeJS.ProcessEnv => ({
    ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key))),
    HOME: home,
    npm_config_userconfig: config,
    NO_COLOR: '1',
  });

  const authLine = (token: string, identifier = 'js') => `//${server().host}/pkg/acme/${identifier}/npm/:_authToken=${token}`;

  function npm(config: string, cwd: string, args: string[]): Promise<Run> {
    return new Promise((resolve, reject) => {
      execFile('npm', args, { cwd, env: npmEnv(config), timeout: 120_000 }, (err, stdout, stderr) => {
        if (err) reject(Object.assign(new Error(`npm ${args.join(' ')} failed: ${stderr || stdout}`), { stdout, stderr }));
        else resolve({ stdout, stderr });
      });
    });
  }

  /** Runs `npm login` in a pseudo-terminal (npm reads the password only from a TTY), answering its prompts. */
  function npmLogin(config: string, args: string[], username: string, password: string): Promise<string> {
    const command = ['npm', 'login', ...args].map((a) => `'${a}'`).join(' ');
    return new Promise((resolve, reject) => {
      const child = execFile('script', ['-qec', command, '/dev/null'], { cwd: home, env: npmEnv(config), timeout: 60_000 }, (err, stdout) => {
        if (err) reject(new Error(`npm login failed: ${stdout}`));
        else resolve(stdout);
      });
      let output = '';
      let sent = 0;
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (sent === 0 && /Username:/.test(output)) {
          child.stdin?.write(`${username}\r`);
          sent = 1;
        } else if (sent === 1 && /Password:/.test(output)) {
          child.stdin?.write(`${password}\r`);
          sent = 2;
        }
      });
    });
  }

  async function makePackage(name: string, version: string, extra: Record<string, unknown> = {}): Promise<string> {
    const dir = join(home, 'src', name.replace('/', '__'), version);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name, version, main: 'index.js', license: 'MIT', description: `${name} for the e2e test`, ...extra }));
    await writeFile(join(dir, 'index.js'), `module.exports = ${JSON.stringify(`${name}@${version}`)};\n`);
    return dir;
  }

  async function project(name: string, deps: Record<string, string>): Promise<string> {
    const dir = join(home, 'projects', name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, dependencies: deps }));
    return dir;
  }

  let writer: string;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'pallet-e2e-npm-'));
    alicePassword = `alice-${Date.now()}-pw`;
    await api('POST', '/spaces', { path: 'acme' });
    await api('POST', '/registries', { space: 'acme', identifier: 'js', packageType: 'npm', kind: 'local' });
    await api('POST', '/registries', { space: 'acme', identifier: 'pub', packageType: 'npm', kind: 'local', public: true });
    await api('POST', '/users', { username: 'alice', password: alicePassword });
    await api('POST', '/users', { username: 'rita', password: 'rita-password-1' });
    await api('PUT', '/spaces/acme/members/alice', { role: 'writer' });
    await api('PUT', '/spaces/acme/members/rita', { role: 'reader' });
    aliceToken = (await api('POST', '/user/tokens', { name: 'npm', scopes: ['read', 'write', 'delete'] }, basic('alice', alicePassword))).token;
    readerToken = (await api('POST', '/user/tokens', { name: 'npm', scopes: ['read'] }, basic('rita', 'rita-password-1'))).token;
    writer = await userconfig('alice', [`registry=${registryUrl()}`, `@acme:registry=${registryUrl()}`, authLine(aliceToken), authLine(aliceToken, 'pub')]);
  });

  after(async () => {
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('publishes unscoped and scoped packages, installs them with a lockfile and npm ci checks it', async () => {
    await npm(writer, await makePackage('e2e-lib', '1.0.0'), ['publish']);
    await npm(writer, await makePackage('@acme/e2e-util', '1.0.0', { dependencies: { 'e2e-lib': '^1.0.0' } }), ['publish']);
    const app = await project('app', { '@acme/e2e-util': '^1.0.0' });
    await npm(writer, app, ['install']);
    const lock = JSON.parse(await readFile(join(app, 'package-lock.json'), 'utf8'));
    const util = lock.packages['node_modules/@acme/e2e-util'];
    const lib = lock.packages['node_modules/e2e-lib'];
    assert.equal(util.resolved, `${registryUrl()}@acme/e2e-util/-/e2e-util-1.0.0.tgz`);
    assert.match(lib.integrity, /^sha512-/);
    const packument = await (await fetch(`${registryUrl()}e2e-lib`, { headers: { authorization: `Bearer ${aliceToken}` } })).json();
    assert.equal(lib.integrity, packument.versions['1.0.0'].dist.integrity);
    await rm(join(app, 'node_modules'), { recursive: true });
    await npm(writer, app, ['ci']);
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['-e', 'console.log(require("@acme/e2e-util"), require("e2e-lib"))'], { cwd: app }, (err, out) => (err ? reject(err) : resolve(out))),
    );
    assert.match(stdout, /@acme\/e2e-util@1\.0\.0 e2e-lib@1\.0\.0/);
    // npm checks what it downloads against the lockfile: a wrong integrity fails `npm ci`.
    lock.packages['node_modules/e2e-lib'].integrity = util.integrity;
    await writeFile(join(app, 'package-lock.json'), JSON.stringify(lock));
    const fresh = await userconfig('fresh', [`registry=${registryUrl()}`, authLine(aliceToken), 'fetch-retries=0']);
    await assert.rejects(npm(fresh, app, ['ci']), /EINTEGRITY|integrity|corrupted/i);
  });

  it('answers npm audit with no advisories, so audits and audited installs succeed', async () => {
    const audited = await userconfig('audited', [`registry=${registryUrl()}`, `@acme:registry=${registryUrl()}`, authLine(aliceToken)]);
    await writeFile(audited, (await readFile(audited, 'utf8')).replace('audit=false', 'audit=true'));
    const app = await project('audited', { '@acme/e2e-util': '^1.0.0' });
    await npm(audited, app, ['install']);
    const audit = await npm(audited, app, ['audit']);
    assert.match(audit.stdout, /found 0 vulnerabilities/);
  });

  it('refuses a republish of a version (409 surfaced by npm)', async () => {
    const dir = await makePackage('e2e-lib', '1.0.0', { description: 'changed' });
    await assert.rejects(npm(writer, dir, ['publish']), /previously published|409|E409/);
  });

  it('manages dist-tags with npm dist-tag add, ls and rm', async () => {
    await npm(writer, await makePackage('e2e-lib', '1.1.0-beta.0'), ['publish', '--tag', 'beta']);
    let ls = await npm(writer, home, ['dist-tag', 'ls', 'e2e-lib']);
    assert.match(ls.stdout, /beta: 1\.1\.0-beta\.0/);
    assert.match(ls.stdout, /latest: 1\.0\.0/);
    await npm(writer, home, ['dist-tag', 'add', 'e2e-lib@1.0.0', 'stable']);
    await npm(writer, home, ['dist-tag', 'rm', 'e2e-lib', 'beta']);
    ls = await npm(writer, home, ['dist-tag', 'ls', 'e2e-lib']);
    assert.doesNotMatch(ls.stdout, /beta:/);
    assert.match(ls.stdout, /stable: 1\.0\.0/);
  });

  it('deprecates and un-deprecates a version; npm view and install show it', async () => {
    await npm(writer, home, ['deprecate', 'e2e-lib@1.0.0', 'please use something else']);
    const view = await npm(writer, home, ['view', 'e2e-lib@1.0.0', 'deprecated']);
    assert.match(view.stdout, /please use something else/);
    const app = await project('deprecated', { 'e2e-lib': '1.0.0' });
    const install = await npm(writer, app, ['install']);
    assert.match(install.stderr, /deprecated e2e-lib@1\.0\.0: please use something else/);
    await npm(writer, home, ['deprecate', 'e2e-lib@1.0.0', '']);
    assert.equal((await npm(writer, home, ['view', 'e2e-lib@1.0.0', 'deprecated'])).stdout.trim(), '');
  });

  it('shows packages with npm view and finds them with npm search', async () => {
    const view = JSON.parse((await npm(writer, home, ['view', '@acme/e2e-util', '--json'])).stdout);
    assert.equal(view.name, '@acme/e2e-util');
    assert.equal(view.version, '1.0.0');
    assert.deepEqual(view.dependencies, { 'e2e-lib': '^1.0.0' });
    assert.equal(view._npmUser?.name, 'alice');
    const found = JSON.parse((await npm(writer, home, ['search', 'e2e', '--json'])).stdout);
    assert.deepEqual(found.map((p: { name: string }) => p.name).sort(), ['@acme/e2e-util', 'e2e-lib']);
  });

  it('unpublishes a version and then the whole package', async () => {
    await npm(writer, await makePackage('e2e-tmp', '1.0.0'), ['publish']);
    await npm(writer, await makePackage('e2e-tmp', '1.1.0'), ['publish']);
    await npm(writer, home, ['unpublish', 'e2e-tmp@1.1.0']);
    const versions = JSON.parse((await npm(writer, home, ['view', 'e2e-tmp', 'versions', '--json'])).stdout);
    assert.deepEqual([versions].flat(), ['1.0.0']);
    await npm(writer, home, ['unpublish', 'e2e-tmp', '--force']);
    await assert.rejects(npm(writer, home, ['view', 'e2e-tmp']), /E404|404/);
    await assert.rejects(npm(writer, await makePackage('e2e-tmp', '1.0.0'), ['publish']), /previously published|409/);
  });

  it('logs in with npm login (legacy and web-first) and uses the token it gets', async () => {
    const legacy = await userconfig('login-legacy', [`registry=${registryUrl()}`]);
    await npmLogin(legacy, ['--auth-type=legacy'], 'alice', alicePassword);
    assert.match(await readFile(legacy, 'utf8'), /:_authToken=pallet_/);
    assert.equal((await npm(legacy, home, ['whoami'])).stdout.trim(), 'alice');
    const web = await userconfig('login-web', [`registry=${registryUrl()}`]);
    await npmLogin(web, [], 'alice', alicePassword);
    assert.equal((await npm(web, home, ['whoami'])).stdout.trim(), 'alice');
    const wrong = await userconfig('login-wrong', [`registry=${registryUrl()}`]);
    await assert.rejects(npmLogin(wrong, ['--auth-type=legacy'], 'alice', 'not-the-password'), /401|Unauthorized|failed/i);
  });

  it('refuses a publish by a reader with 403', async () => {
    const reader = await userconfig('reader', [`registry=${registryUrl()}`, authLine(readerToken)]);
    assert.equal((await npm(reader, home, ['whoami'])).stdout.trim(), 'rita');
    await assert.rejects(npm(reader, await makePackage('e2e-readers', '1.0.0'), ['publish']), /E403|403/);
    await assert.rejects(npm(writer, home, ['view', 'e2e-readers']), /E404|404/);
  });

  it('installs anonymously from a public registry', async () => {
    await npm(writer, await makePackage('e2e-public', '2.0.0'), ['publish', '--registry', registryUrl('pub')]);
    const anonymous = await userconfig('anonymous', [`registry=${registryUrl('pub')}`]);
    const app = await project('anonymous', { 'e2e-public': '^2.0.0' });
    await npm(anonymous, app, ['install']);
    const lock = JSON.parse(await readFile(join(app, 'package-lock.json'), 'utf8'));
    assert.equal(lock.packages['node_modules/e2e-public'].version, '2.0.0');
    await assert.rejects(npm(anonymous, await makePackage('e2e-public', '2.0.1'), ['publish']), /E401|401|ENEEDAUTH|need auth/i);
  });
});
