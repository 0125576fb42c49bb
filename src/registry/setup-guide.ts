/**
 * The Setup Client guide of a registry: the steps (log in, push, pull, …) its format's client
 * needs, with this server's host, the registry's names and, for plain-HTTP hosts, the flags
 * each client needs for them.
 */
import type { PackageType, RegistryRecord } from '../metadata/store.js';

export interface SetupStep {
  title: string;
  commands: string[];
  /** Extra advice for the step (e.g. plain-HTTP hosts). */
  note?: string;
}

export interface SetupGuide {
  packageType: PackageType;
  steps: SetupStep[];
}

/** Setup Client commands. Plain-HTTP hosts get the flags each client needs for them. */
export function setupGuide(baseUrl: string, rootPath: string, registry: RegistryRecord): SetupGuide {
  const url = new URL(baseUrl);
  const host = url.host;
  const plain = url.protocol === 'http:';
  const repo = `${host}/${rootPath}/${registry.identifier}`;
  const pushable = registry.kind === 'local';
  if (registry.packageType === 'docker') {
    const steps: SetupStep[] = [
      {
        title: 'Log in',
        commands: [`docker login ${host}`],
        note: 'Use your username and an access token as the password.' +
          (plain ? ` ${host} is served over plain HTTP: list it under "insecure-registries" in the Docker daemon configuration unless it is localhost.` : ''),
      },
    ];
    if (pushable) {
      steps.push({ title: 'Push an image', commands: [`docker tag <image>:<tag> ${repo}/<image>:<tag>`, `docker push ${repo}/<image>:<tag>`] });
    }
    steps.push({ title: 'Pull an image', commands: [`docker pull ${repo}/<image>:<tag>`] });
    return { packageType: 'docker', steps };
  }
  const plainFlag = plain ? ' --plain-http' : '';
  const steps: SetupStep[] = [
    {
      title: 'Log in',
      commands: [`helm registry login ${host}${plain ? ' --insecure' : ''}`],
      note: 'Use your username and an access token as the password.',
    },
  ];
  if (pushable) steps.push({ title: 'Push a chart', commands: [`helm push <chart>-<version>.tgz oci://${repo}${plainFlag}`] });
  steps.push(
    { title: 'Pull a chart', commands: [`helm pull oci://${repo}/<chart> --version <version>${plainFlag}`] },
    {
      title: 'Use as a classic chart repository',
      commands: [
        `helm repo add ${registry.identifier} ${baseUrl}/pkg/${rootPath}/${registry.identifier}/helm${registry.public ? '' : ' --username <username> --password <access token>'}`,
        'helm repo update',
      ],
    },
  );
  if (pushable) {
    steps.push({
      title: 'Upload a chart to the classic repository (ChartMuseum API)',
      commands: [`curl --user <username>:<access token> --data-binary @<chart>-<version>.tgz ${baseUrl}/pkg/${rootPath}/${registry.identifier}/helm/api/charts`],
      note: 'Add ?force to replace a version that exists. Charts uploaded here and charts pushed over OCI are the same charts.',
    });
  }
  return { packageType: 'helm', steps };
}
