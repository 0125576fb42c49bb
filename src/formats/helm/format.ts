/**
 * The Helm format: chart registries served both over OCI (`/v2`, `helm push oci://…`) and as a
 * classic chart repository with the ChartMuseum API at `/pkg/<root>/<registry>/helm/`
 * (`routes.ts`). Its domain (`charts.ts`, the index), store (`store/`) and upstream adapter
 * (`upstream/`) live in this folder.
 */
import type { PackageFormat, SetupContext, SetupStep, VersionReference } from '../format.js';
import { helmMigration } from './store/helm-migration.js';

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
  setup,
  pullCommand,
};
