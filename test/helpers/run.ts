/**
 * Runs an external command (skopeo, umoci, psql) to completion and captures its output. A
 * non-zero exit becomes a `CommandError` carrying the command line and stderr, so a failed
 * assertion shows what the client said rather than just "exit code 1".
 */
import { spawn } from 'node:child_process';

export interface RunResult {
  stdout: string;
  /** stdout exactly as written (for raw manifests, whose digest depends on every byte). */
  stdoutBytes: Buffer;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the command after this long; 120 s by default. */
  timeoutMs?: number;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${command} exited with ${exitCode ?? 'a signal'}\n${stderr.trim() || stdout.trim()}`);
    this.name = 'CommandError';
  }
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const line = [command, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 120_000,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (e) => reject(new CommandError(line, null, '', e.message)));
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(out);
      const stdout = stdoutBytes.toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) resolve({ stdout, stdoutBytes, stderr });
      else reject(new CommandError(line, code, stdout, stderr));
    });
  });
}
