/**
 * The Helm format: chart registries served both over OCI (`/v2`, `helm push oci://…`) and as a
 * classic chart repository with the ChartMuseum API at `/pkg/<root>/<registry>/helm/`
 * (`routes.ts`). Its domain (`charts.ts`, the index), store (`store/`) and upstream adapter
 * (`upstream/`) live in this folder.
 */
import type { FormatCore, FormatParts, PackageFormat, SetupContext, SetupStep, VersionReference } from '../format.js';
import { CachedCharts } from './cached-charts.js';
import { ChartPushPolicy } from './chart-push-policy.js';
import { ChartVersions } from './chart-versions.js';
import { ChartService } from './charts.js';
import { HELM_CONFIG_DEFAULTS, helmSettings } from './config.js';
import { HELM_CONFIG } from './media-types.js';
import { helmRoutes } from './routes.js';
import { helmMigration } from './store/helm-migration.js';
import { SqlHelmStore } from './store/sql-helm-store.js';
import { HelmUpstreams } from './upstream/helm-upstream.js';
import { HelmIndexMetrics } from './upstream/index-metrics.js';
import { parseFileHosts } from '../../upstream/fetch-cache/file-hosts.js';

/** Largest upstream index.yaml a helm proxy accepts (public indexes run to tens of MiB). */
const UPSTREAM_INDEX_BYTES = 128 * 1024 * 1024;

/**
 * The chart service over Helm's own store, with the OCI push policy of helm registries and the
 * classic upstream adapter over the fetch-and-cache core (all wired by their constructors).
 * Every chart version is written through one `ChartVersions`, which records its files as the
 * core's package files.
 */
function create({ config, services, database, metrics }: FormatCore): FormatParts {
  const settings = helmSettings(config);
  const helm = new SqlHelmStore(database.db, database.dialect);
  const { store, blobs, manifests, fetchCache } = services;
  const versions = new ChartVersions(helm, services.packageFiles);
  const upstreams = new HelmUpstreams(
    { store, helm, cached: new CachedCharts(versions, blobs, manifests), blobs, cache: fetchCache, indexMetrics: new HelmIndexMetrics(metrics) },
    {
      maxIndexBytes: UPSTREAM_INDEX_BYTES,
      maxIndexEntries: settings.maxIndexEntries,
      indexReadTimeoutMs: settings.indexReadSeconds * 1000,
      fileHosts: parseFileHosts(config.upstream.fileHosts),
    },
  );
  const charts = new ChartService(store, helm, versions, blobs, manifests, { allowOverwrite: settings.allowOverwrite }, upstreams);
  return { manifestPolicy: new ChartPushPolicy(store, versions, blobs), routes: (app) => helmRoutes(app, { services, charts, chartBytes: settings.chartBytes }) };
}

function setup(ctx: SetupContext): SetupStep[] {
  const repo = `${ctx.host}/${ctx.rootPath}/${ctx.identifier}`;
  const plainFlag = ctx.plain ? ' --plain-http' : '';
  const repoUrl = `${ctx.baseUrl}/pkg/${ctx.rootPath}/${ctx.identifier}/helm`;
  const steps: SetupStep[] = [
    {
      title: 'Log in',
      commands: [`helm registry login ${ctx.host}${ctx.plain ? ' --insecure' : ''}`],
      note: 'Use your username and an access token as the password.',
    },
  ];
  if (ctx.pushable) steps.push({ title: 'Push a chart', commands: [`helm push <chart>-<version>.tgz oci://${repo}${plainFlag}`] });
  steps.push(
    { title: 'Pull a chart', commands: [`helm pull oci://${repo}/<chart> --version <version>${plainFlag}`] },
    {
      title: 'Use as a classic chart repository',
      commands: [`helm repo add ${ctx.identifier} ${repoUrl}${ctx.public ? '' : ' --username <username> --password <access token>'}`, 'helm repo update'],
    },
  );
  if (ctx.pushable) {
    steps.push({
      title: 'Upload a chart to the classic repository (ChartMuseum API)',
      commands: [`curl --user <username>:<access token> --data-binary @<chart>-<version>.tgz ${repoUrl}/api/charts`],
      note: 'Add ?force to replace a version that exists. Charts uploaded here and charts pushed over OCI are the same charts.',
    });
  }
  return steps;
}

function pullCommand(ctx: SetupContext, artifact: string, version: VersionReference): string {
  const ref = `oci://${ctx.host}/${ctx.rootPath}/${ctx.identifier}/${artifact}`;
  const plainFlag = ctx.plain ? ' --plain-http' : '';
  return 'tag' in version ? `helm pull ${ref} --version ${version.tag}${plainFlag}` : `helm pull ${ref}@${version.digest}${plainFlag}`;
}

export const helmFormat: PackageFormat = {
  type: 'helm',
  label: 'Helm',
  description: 'Helm charts, over OCI and as a classic chart repository',
  icon: 'wheel',
  ociBased: true,
  pkgPath: 'helm',
  sources: [{ id: 'custom', label: 'Custom' }],
  defaultSource: 'custom',
  urlSchemes: ['http:', 'https:', 'oci:'],
  urlHint: 'a classic chart repository (serving index.yaml) or an oci:// registry',
  migrations: { '0005_helm': helmMigration },
  config: HELM_CONFIG_DEFAULTS,
  versionDetail: { field: 'chart', mediaType: HELM_CONFIG, description: 'Chart metadata of a Helm chart (its Chart.yaml)' },
  setup,
  pullCommand,
  create,
};
