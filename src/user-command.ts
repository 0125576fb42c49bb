/**
 * `pallet user add` and `pallet token create`: operators' commands against the deployment the
 * config names (the same database the serving replicas use; they pick the changes up within
 * `auth.cacheSeconds`). Secrets are never taken from the command line, where `ps` shows them:
 * a password comes from stdin (`--password-stdin`) or is generated; either secret is printed
 * to stdout once.
 */
import type { Readable, Writable } from 'node:stream';
import { buildApp, createLogger } from './app.js';
import { randomSecret } from './auth/secrets.js';
import { PalletError } from './base/errors.js';
import type { Config } from './config/config.js';

export interface CommandIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

const processIo: CommandIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };

async function readPassword(stdin: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function withApp<T>(config: Config, work: (app: Awaited<ReturnType<typeof buildApp>>) => Promise<T>): Promise<T> {
  const app = await buildApp(config, createLogger(config));
  try {
    return await work(app);
  } finally {
    await app.server.close();
  }
}

export interface UserAddOptions {
  username: string;
  email?: string;
  admin?: boolean;
  passwordStdin?: boolean;
}

/** Creates a user; prints the generated password when none came on stdin. */
export async function runUserAdd(config: Config, options: UserAddOptions, io: CommandIo = processIo): Promise<number> {
  const password = options.passwordStdin ? await readPassword(io.stdin) : randomSecret().slice(0, 24);
  return withApp(config, async ({ services }) => {
    const user = await services.auth.users.create({
      username: options.username,
      password,
      ...(options.email !== undefined ? { email: options.email } : {}),
      admin: options.admin ?? false,
    });
    await services.auth.audit.record({ actor: 'cli', action: 'user.create', target: user.username, outcome: 'success', address: 'cli', details: {} });
    io.stderr.write(`pallet: created ${user.admin ? 'administrator' : 'user'} ${user.username}\n`);
    if (!options.passwordStdin) io.stdout.write(`${password}\n`);
    return 0;
  });
}

export interface TokenCreateOptions {
  username: string;
  name: string;
  scopes?: string[];
  expiresInDays?: number;
  space?: string;
  registry?: string;
}

/** Creates an access token for a user and prints it (the only time it is shown). */
export async function runTokenCreate(config: Config, options: TokenCreateOptions, io: CommandIo = processIo): Promise<number> {
  return withApp(config, async ({ services }) => {
    const user = await services.auth.users.getRecord(options.username);
    const { view, token } = await services.auth.tokens.create(user, {
      name: options.name,
      ...(options.scopes !== undefined ? { scopes: options.scopes } : {}),
      ...(options.expiresInDays !== undefined ? { expiresInDays: options.expiresInDays } : {}),
      ...(options.space !== undefined ? { space: options.space } : {}),
      ...(options.registry !== undefined ? { registry: options.registry } : {}),
    });
    await services.auth.audit.record({ actor: 'cli', action: 'token.create', target: view.name, outcome: 'success', address: 'cli', details: { user: user.username } });
    io.stderr.write(`pallet: access token "${view.name}" for ${user.username}, scopes ${view.scopes.join(',')}, expires ${view.expiresAt}\n`);
    io.stdout.write(`${token}\n`);
    return 0;
  });
}

export function positiveInteger(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new PalletError('INVALID_ARGUMENT', `${what} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}
