/**
 * Process entry: the `pallet` CLI.
 */
import { Command } from 'commander';
import { buildApp, createLogger } from './app.js';
import { externalBaseUrl, loadConfig } from './config/config.js';
import { isPalletError } from './base/errors.js';
import { runGcCommand } from './gc-command.js';

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
    const config = loadConfig({ ...(opts.config ? { file: opts.config } : {}), flags });
    const log = createLogger(config);
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
    const config = loadConfig({ ...(opts.config ? { file: opts.config } : {}), flags });
    process.exitCode = await runGcCommand(config, opts.dryRun ?? false);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (isPalletError(err)) {
    console.error(`pallet: ${err.message}`);
  } else {
    console.error(err);
  }
  process.exit(1);
});
