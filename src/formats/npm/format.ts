/**
 * The npm format: npm registries at `/pkg/<root>/<registry>/npm/`, what the npm CLI uses as its
 * `registry=` (packuments, tarballs, publish, dist-tags, deprecate, unpublish, search, login,
 * audit: `routes.ts`). Its domain (`packages.ts`, `publisher.ts`, `packument.ts`), its store
 * (`store/`) and its upstream side (`NpmUpstreams`, see NOTES-npm.md) live in this folder.
 */
import type { Log } from '../../base/log.js';
import type { RegistryRecord } from '../../metadata/store.js';
import type { FormatCore, FormatPackages, FormatParts, PackageFormat, SetupContext, SetupStep, VersionReference } from '../format.js';
import { NPM_CONFIG_DEFAULTS, npmSettings, type NpmSettings } from './config.js';
import { LocalPackages } from './local-packages.js';
import { NpmMetrics } from './npm-metrics.js';
import { NpmVersions } from './npm-versions.js';
import { NpmPackages, type NpmUpstreams } from './packages.js';
import { NpmPublisher } from './publisher.js';
import { npmRoutes } from './routes.js';
import { npmMigration } from './store/npm-migration.js';
import type { NpmStore } from './store/npm-store.js';
import { SqlNpmStore } from './store/sql-npm-store.js';
import { createNpmUpstreams, upstreamPackumentsMigration } from './upstream/index.js';

/** What the upstream adapter is built from (see NOTES-npm.md). */
export interface NpmUpstreamDeps {
  core: FormatCore;
  npm: NpmStore;
  /** Records a cached version (package files, then its row) like a publish does. */
  versions: NpmVersions;
  /** What a registry (e.g. a proxy's cache) stores itself. */
  local: LocalPackages;
  settings: NpmSettings;
}

/** The npm parts of one process, built over the core; `upstreams` builds the upstream adapter when there is one. */
export function createNpmParts(core: FormatCore, upstreams?: (deps: NpmUpstreamDeps) => NpmUpstreams): FormatParts {
  const { config, services, database } = core;
  const settings = npmSettings(config);
  const npm = new SqlNpmStore(database.db, database.dialect);
  const versions = new NpmVersions(npm, services.packageFiles);
  const local = new LocalPackages({ npm, blobs: services.blobs }, settings.packumentCacheEntries);
  const packages = new NpmPackages({ npm, versions }, local, upstreams?.({ core, npm, versions, local, settings }));
  const metrics = new NpmMetrics(core.metrics);
  const publisher = new NpmPublisher({ store: services.store, npm, blobs: services.blobs, versions, packages }, settings);
  return {
    routes: (app) => npmRoutes(app, { services, packages, publisher, settings, metrics }),
    packages: managementParts(npm, versions, packages),
  };
}

/** What the management API asks of npm versions (detail, tags, deletes). */
function managementParts(npm: NpmStore, versions: NpmVersions, packages: NpmPackages): FormatPackages {
  return {
    async detail(registry: RegistryRecord, artifact: string, version: string) {
      const [row, pkg] = await Promise.all([npm.findVersion(registry.id, artifact, version), npm.findPackage(registry.id, artifact)]);
      if (!row) return null;
      const m = row.manifest;
      return {
        description: m.description ?? null,
        license: m.license ?? null,
        dependencies: m.dependencies ?? {},
        ...(m.peerDependencies !== undefined ? { peerDependencies: m.peerDependencies } : {}),
        ...(m.optionalDependencies !== undefined ? { optionalDependencies: m.optionalDependencies } : {}),
        integrity: row.integrity,
        shasum: row.shasum,
        deprecated: row.deprecated,
        distTags: Object.entries(pkg?.distTags ?? {})
          .filter(([, target]) => target === version)
          .map(([tag]) => tag),
        publishedAt: new Date(row.createdAt).toISOString(),
      };
    },
    async tags(registry: RegistryRecord, artifact: string) {
      const pkg = await npm.findPackage(registry.id, artifact);
      const out = new Map<string, string[]>();
      for (const [tag, version] of Object.entries(pkg?.distTags ?? {})) out.set(version, [...(out.get(version) ?? []), tag]);
      return out;
    },
    async deleteVersion(registry: RegistryRecord, artifact: string, version: string, _log: Log) {
      await packages.removeVersion(registry, artifact, version);
    },
    async deleteArtifact(registry: RegistryRecord, artifact: string, _log: Log) {
      await versions.removePackage(registry.id, artifact);
    },
  };
}

function setup(ctx: SetupContext): SetupStep[] {
  const url = `${ctx.baseUrl}/pkg/${ctx.rootPath}/${ctx.identifier}/npm/`;
  const authLine = `//${ctx.host}/pkg/${ctx.rootPath}/${ctx.identifier}/npm/:_authToken=<access token>`;
  const steps: SetupStep[] = [
    {
      title: 'Configure npm (.npmrc in your project or home directory)',
      commands: [`registry=${url}`, authLine],
      note: 'Or only for one scope: @<scope>:registry=' + url + ' (with the same _authToken line). The token is a Pallet access token; `npm login --registry ' + url + '` creates one from your username and password.',
    },
  ];
  if (ctx.pushable) steps.push({ title: 'Publish a package', commands: [`npm publish --registry ${url}`] });
  steps.push({ title: 'Install a package', commands: [`npm install <package> --registry ${url}`] });
  return steps;
}

function pullCommand(ctx: SetupContext, artifact: string, version: VersionReference): string {
  const url = `${ctx.baseUrl}/pkg/${ctx.rootPath}/${ctx.identifier}/npm/`;
  const ref = 'tag' in version ? version.tag : version.digest;
  return `npm install ${artifact}@${ref} --registry ${url}`;
}

export const npmFormat: PackageFormat = {
  type: 'npm',
  label: 'npm',
  description: 'JavaScript packages for npm, with publish, dist-tags and search',
  icon: 'npm',
  ociBased: false,
  pkgPath: 'npm',
  sources: [
    { id: 'npmjs', label: 'npmjs', defaultUrl: 'https://registry.npmjs.org' },
    { id: 'custom', label: 'Custom' },
  ],
  defaultSource: 'npmjs',
  urlSchemes: ['http:', 'https:'],
  urlHint: 'an npm registry (serving packuments at <url>/<package>)',
  migrations: { npm_0001_packages: npmMigration, npm_0002_upstream_packuments: upstreamPackumentsMigration },
  config: NPM_CONFIG_DEFAULTS,
  versionDetail: { field: 'npm', description: 'npm metadata of the version: dependencies, integrity, shasum, deprecation, dist-tags naming it' },
  setup,
  pullCommand,
  create: (core) => createNpmParts(core, createNpmUpstreams),
};
