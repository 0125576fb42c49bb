/**
 * Drives skopeo against a test server over plain HTTP: skopeo treats `docker://127.0.0.1:<port>`
 * with `--src-tls-verify=false` / `--dest-tls-verify=false` as http. Every call passes the
 * admin credentials (used only if the server challenges) and fails with a `CommandError`
 * carrying skopeo's stderr.
 */
import { run, type RunResult } from './run.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface CopyOptions {
  /** `--all`: copy every manifest of an index. */
  all?: boolean;
  /** `--preserve-digests`: fail rather than change a manifest digest. */
  preserveDigests?: boolean;
  /** `--format v2s2|oci`: convert the manifest on the way. */
  format?: 'v2s2' | 'oci';
  /** `--digestfile`: where skopeo writes the digest of the copied manifest. */
  digestFile?: string;
}

export interface InspectOptions {
  /** `--override-arch`: pick this platform from an index. */
  arch?: string;
  os?: string;
}

export interface InspectResult {
  Name: string;
  Digest: string;
  Architecture: string;
  Os: string;
  Layers: string[];
  [field: string]: unknown;
}

const isDocker = (ref: string): boolean => ref.startsWith('docker://');

function credsFlag(flag: string, creds: Credentials | undefined): string[] {
  return creds ? [`${flag}=${creds.username}:${creds.password}`] : [];
}

export class Skopeo {
  constructor(private readonly creds?: Credentials) {}

  /** `docker://<host>/<repository>:<tag>` or `…@<digest>`. */
  static ref(host: string, repository: string, reference: string): string {
    return `docker://${host}/${repository}${reference.includes(':') ? '@' : ':'}${reference}`;
  }

  run(args: readonly string[]): Promise<RunResult> {
    return run('skopeo', ['--insecure-policy', ...args], { timeoutMs: 600_000 });
  }

  async copy(src: string, dest: string, options: CopyOptions = {}): Promise<RunResult> {
    const args = ['copy', '--retry-times=0'];
    if (isDocker(src)) args.push('--src-tls-verify=false', ...credsFlag('--src-creds', this.creds));
    if (isDocker(dest)) args.push('--dest-tls-verify=false', ...credsFlag('--dest-creds', this.creds));
    if (options.all) args.push('--all');
    if (options.preserveDigests) args.push('--preserve-digests');
    if (options.format) args.push('--format', options.format);
    if (options.digestFile) args.push('--digestfile', options.digestFile);
    return this.run([...args, src, dest]);
  }

  async inspect(ref: string, options: InspectOptions = {}): Promise<InspectResult> {
    const args = ['inspect', '--tls-verify=false', ...credsFlag('--creds', this.creds)];
    if (options.arch) args.unshift(`--override-arch=${options.arch}`);
    if (options.os) args.unshift(`--override-os=${options.os}`);
    const { stdout } = await this.run([...args, ref]);
    return JSON.parse(stdout) as InspectResult;
  }

  /** The manifest exactly as the registry serves it. */
  async inspectRaw(ref: string): Promise<Buffer> {
    const { stdoutBytes } = await this.run(['inspect', '--raw', '--tls-verify=false', ...credsFlag('--creds', this.creds), ref]);
    return stdoutBytes;
  }

  async listTags(repositoryRef: string): Promise<string[]> {
    const { stdout } = await this.run(['list-tags', '--tls-verify=false', ...credsFlag('--creds', this.creds), repositoryRef]);
    const parsed = JSON.parse(stdout) as { Tags?: string[] };
    return parsed.Tags ?? [];
  }

  async delete(ref: string): Promise<void> {
    await this.run(['delete', '--tls-verify=false', ...credsFlag('--creds', this.creds), ref]);
  }
}
