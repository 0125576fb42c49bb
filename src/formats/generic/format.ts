/**
 * Generic files: any file (a build output, a tarball, an installer) stored under
 * `<package>/<version>/<file path>` at `/pkg/<root>/<registry>/generic/` and fetched with curl
 * or wget (`routes.ts`). Local registries take uploads; upstream proxies cache the files of a
 * custom URL (`generic-upstream.ts`). The core's package files are the only record of what a
 * version holds (`generic-files.ts`), so the format has no tables of its own.
 */
import type { FormatCore, FormatParts, PackageFormat, SetupContext, SetupStep, VersionReference } from '../format.js';
import { GenericFiles } from './generic-files.js';
import { GenericMetrics } from './generic-metrics.js';
import { GenericUpstreams } from './generic-upstream.js';
import { genericRoutes } from './routes.js';
import { GENERIC_CONFIG_DEFAULTS, GENERIC_SETTINGS, genericConfig } from './settings.js';

function create({ config, services, metrics }: FormatCore): FormatParts {
  const { store, blobs, packageFiles, fetchCache } = services;
  const files = new GenericFiles(store, blobs, packageFiles, genericConfig(config).maxFileBytes);
  const upstreams = new GenericUpstreams(store, files, packageFiles, fetchCache);
  const counters = new GenericMetrics(metrics);
  return {
    routes: (app) => genericRoutes(app, { services, files, upstreams, metrics: counters }),
    packages: {
      deleteVersion: (registry, artifact, version) => files.deleteVersion(registry, artifact, version),
      deleteArtifact: (registry, artifact, log) => files.deleteArtifact(registry, artifact, log),
    },
  };
}

const base = (ctx: SetupContext): string => `${ctx.baseUrl}/pkg/${ctx.rootPath}/${ctx.identifier}/generic`;

function setup(ctx: SetupContext): SetupStep[] {
  const url = base(ctx);
  const user = ctx.public ? '' : '-u <username>:<access token> ';
  const steps: SetupStep[] = [];
  if (ctx.pushable) {
    steps.push({
      title: 'Upload a file',
      commands: [`curl --fail -u <username>:<access token> -T <file> ${url}/<package>/<version>/<file>`],
      note: 'Add -H "X-Checksum-Sha256: <sha256>" to have the upload verified. Files of a version are immutable: uploading other bytes to the same path is refused with 409 unless the registry allows overwrite.',
    });
  }
  steps.push(
    { title: 'Download a file with curl', commands: [`curl --fail ${user}-O ${url}/<package>/<version>/<file>`] },
    {
      title: 'Download a file with wget',
      commands: [ctx.public ? `wget ${url}/<package>/<version>/<file>` : `wget --header "Authorization: Bearer <access token>" ${url}/<package>/<version>/<file>`],
    },
  );
  if (ctx.pushable) steps.push({ title: 'Delete a file or a whole version', commands: [`curl --fail -u <username>:<access token> -X DELETE ${url}/<package>/<version>[/<file>]`] });
  return steps;
}

function pullCommand(ctx: SetupContext, artifact: string, version: VersionReference): string {
  // Package and version names are URL-safe by their rule (coordinates.ts): no encoding needed.
  const v = 'tag' in version ? version.tag : version.digest;
  return `curl --fail ${ctx.public ? '' : '-u <username>:<access token> '}-O ${base(ctx)}/${artifact}/${v}/<file>`;
}

export const genericFormat: PackageFormat = {
  type: 'generic',
  label: 'Generic',
  description: 'Any files (build outputs, archives, installers) by package, version and path',
  icon: 'file',
  ociBased: false,
  pkgPath: 'generic',
  sources: [{ id: 'custom', label: 'Custom' }],
  defaultSource: 'custom',
  urlSchemes: ['http:', 'https:'],
  urlHint: 'a web server serving files at <url>/<package>/<version>/<file path>',
  settings: GENERIC_SETTINGS,
  config: GENERIC_CONFIG_DEFAULTS,
  setup,
  pullCommand,
  create,
};
