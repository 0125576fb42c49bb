/**
 * The Docker (OCI image) format: registries of images and any other OCI artifact, served by the
 * OCI distribution surface at `/v2/<root>/<registry>/<name…>` (`routes.ts`), proxying Docker
 * Hub or any OCI registry through the shared OCI pull-through.
 */
import type { PackageFormat, SetupContext, SetupStep, VersionReference } from '../format.js';
import { DOCKER_HUB_HOSTS } from '../../upstream/oci/pull-through.js';

/** Docker Hub's registry endpoint: the fixed URL of the `dockerhub` upstream source. */
export const DOCKER_HUB_URL = 'https://registry-1.docker.io';

function setup(ctx: SetupContext): SetupStep[] {
  const repo = `${ctx.host}/${ctx.rootPath}/${ctx.identifier}`;
  const steps: SetupStep[] = [
    {
      title: 'Log in',
      commands: [`docker login ${ctx.host}`],
      note:
        'Use your username and an access token as the password.' +
        (ctx.plain ? ` ${ctx.host} is served over plain HTTP: list it under "insecure-registries" in the Docker daemon configuration unless it is localhost.` : ''),
    },
  ];
  if (ctx.pushable) {
    steps.push({ title: 'Push an image', commands: [`docker tag <image>:<tag> ${repo}/<image>:<tag>`, `docker push ${repo}/<image>:<tag>`] });
  }
  steps.push({ title: 'Pull an image', commands: [`docker pull ${repo}/<image>:<tag>`] });
  return steps;
}

function pullCommand(ctx: SetupContext, artifact: string, version: VersionReference): string {
  const at = 'tag' in version ? `:${version.tag}` : `@${version.digest}`;
  return `docker pull ${ctx.host}/${ctx.rootPath}/${ctx.identifier}/${artifact}${at}`;
}

export const dockerFormat: PackageFormat = {
  type: 'docker',
  label: 'Docker',
  description: 'Container images and other OCI artifacts',
  icon: 'container',
  ociBased: true,
  sources: [
    { id: 'dockerhub', label: 'Docker Hub', defaultUrl: DOCKER_HUB_URL, hosts: DOCKER_HUB_HOSTS },
    { id: 'custom', label: 'Custom' },
  ],
  urlSchemes: ['http:', 'https:'],
  urlHint: 'a registry root (https://registry.example.com)',
  setup,
  pullCommand,
};
