/**
 * Process entry: the `pallet` CLI.
 */
import { Command } from 'commander';
import { buildApp, createLogger } from './app.js';
import { formatConfigSections } from './formats/index.js';
import { externalBaseUrl, loadConfig } from './config/config.js';
import { isPalletError } from './base/errors.js';
import { runGcCommand } from './gc-command.js';
import { runScrubCommand } from './scrub-command.js';
import { positiveInteger, runTokenCreate, runUserAdd } from './user-command.js';

const program = new Command('pallet').description('Pallet: a self-hosted artifact registry');

program
  .command('serve')
  .description('start the registry server')
  .option('--host <host>', 'address to listen on (PALLET_HOST)')
  .option('--port <port>', 'port to listen on (PALLET_PORT)')
  .option('--data-dir <dir>', 'where SQLite and stored blobs live (PALLET_DATA_DIR)')
  .option('--config <file>', 'YAML config file (PALLET_CONFIG)')
  .option('--log-level <level>', 'trace|debug|info|warn|error (PALLET_LOG_LEVEL)')
  .action(async (opts: { host?: string; port?: string; dataDir?: string; config?: string; logLevel?: string }) => {
    const flags: Record<string, unknown> = {};
    if (opts.host !== undefined) flags.host = opts.host;
    if (opts.port !== undefined) flags.port = opts.port;
    if (opts.dataDir !== undefined) flags.dataDir = opts.dataDir;
    if (opts.logLevel !== undefined) flags.logLevel = opts.logLevel;
    const config = loadConfig({ ...(opts.config ? { file: opts.config } : {}), flags, sections: formatConfigSections() });
    const log = createLogger(config);
    // A promise that nobody awaited must not end a server that every other request still
    // needs (Node's default for an unhandled rejection is to exit): log it loudly instead.
    // Database and disk faults are handled where they happen; this is the last line.
    process.on('unhandledRejection', (reason: unknown) => log.error({ err: reason }, 'unhandled promise rejection (the process keeps serving)'));
    const { server } = await buildApp(config, log);
    await server.listen({ host: config.host, port: config.port });
    log.info({ url: externalBaseUrl(config), dataDir: config.dataDir, database: config.database.url ? 'postgres' : 'sqlite', storage: config.storage }, 'pallet is serving');
    let closing = false;
    const shutdown = (signal: string) => {
      if (closing) return;
      closing = true;
      log.info({ signal }, 'shutting down');
      server.close().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
  });

program
  .command('gc')
  .description('collect garbage online: dead links, unreferenced blobs, stale uploads, leftover bytes')
  .option('--dry-run', 'report what would be removed (count and bytes) without removing it')
  .option('--grace <seconds>', 'keep garbage younger than this (gc.graceSeconds, PALLET_GC_GRACE_SECONDS)')
  .option('--config <file>', 'YAML config file (PALLET_CONFIG)')
  .option('--data-dir <dir>', 'where SQLite and stored blobs live (PALLET_DATA_DIR)')
  .action(async (opts: { dryRun?: boolean; grace?: string; config?: string; dataDir?: string }) => {
    const flags: Record<string, unknown> = { logLevel: process.env.PALLET_LOG_LEVEL ?? 'warn' };
    if (opts.dataDir !== undefined) flags.dataDir = opts.dataDir;
    if (opts.grace !== undefined) flags.gc = { graceSeconds: opts.grace };
    const config = loadConfig({ ...(opts.config ? { file: opts.config } : {}), flags, sections: formatConfigSections() });
    process.exitCode = await runGcCommand(config, opts.dryRun ?? false);
  });

program
  .command('scrub')
  .description('read every stored blob back and check it against its digest (bit rot, bytes stored before verification)')
  .option('--repair', 'move mismatching bytes to quarantine/ in storage and remove their blob rows and links')
  .option('--config <file>', 'YAML config file (PALLET_CONFIG)')
  .option('--data-dir <dir>', 'where SQLite and stored blobs live (PALLET_DATA_DIR)')
  .action(async (opts: { repair?: boolean; config?: string; dataDir?: string }) => {
    process.exitCode = await runScrubCommand(commandConfig(opts), opts.repair ?? false);
  });

const configOptions = (command: Command): Command =>
  command
    .option('--config <file>', 'YAML config file (PALLET_CONFIG)')
    .option('--data-dir <dir>', 'where SQLite and stored blobs live (PALLET_DATA_DIR)');

/** Config for the operator commands: quiet logs unless PALLET_LOG_LEVEL says otherwise. */
function commandConfig(opts: { config?: string; dataDir?: string }) {
  const flags: Record<string, unknown> = { logLevel: process.env.PALLET_LOG_LEVEL ?? 'warn' };
  if (opts.dataDir !== undefined) flags.dataDir = opts.dataDir;
  return loadConfig({ ...(opts.config ? { file: opts.config } : {}), flags, sections: formatConfigSections() });
}

const user = program.command('user').description('manage users (operators)');
configOptions(
  user
    .command('add <username>')
    .description('create a user; prints a generated password unless --password-stdin')
    .option('--admin', 'a global administrator')
    .option('--email <email>', 'email address')
    .option('--password-stdin', 'read the password from stdin'),
).action(async (username: string, opts: { admin?: boolean; email?: string; passwordStdin?: boolean; config?: string; dataDir?: string }) => {
  process.exitCode = await runUserAdd(commandConfig(opts), {
    username,
    ...(opts.admin ? { admin: true } : {}),
    ...(opts.email !== undefined ? { email: opts.email } : {}),
    ...(opts.passwordStdin ? { passwordStdin: true } : {}),
  });
});

const token = program.command('token').description('manage access tokens (operators)');
configOptions(
  token
    .command('create <username>')
    .description("create an access token for a user and print it (shown once)")
    .requiredOption('--name <name>', 'a name to recognise the token by')
    .option('--scopes <list>', 'comma-separated: read,write,delete,admin (default read)')
    .option('--days <n>', 'lifetime in days (default auth.tokenDefaultDays)')
    .option('--space <path>', 'limit the token to this space and its projects')
    .option('--registry <root/identifier>', 'limit the token to this registry'),
).action(
  async (
    username: string,
    opts: { name: string; scopes?: string; days?: string; space?: string; registry?: string; config?: string; dataDir?: string },
  ) => {
    process.exitCode = await runTokenCreate(commandConfig(opts), {
      username,
      name: opts.name,
      ...(opts.scopes !== undefined ? { scopes: opts.scopes.split(',').map((s) => s.trim()) } : {}),
      ...(opts.days !== undefined ? { expiresInDays: positiveInteger(opts.days, '--days') } : {}),
      ...(opts.space !== undefined ? { space: opts.space } : {}),
      ...(opts.registry !== undefined ? { registry: opts.registry } : {}),
    });
  },
);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (isPalletError(err)) {
    console.error(`pallet: ${err.message}`);
  } else {
    console.error(err);
  }
  process.exit(1);
});
