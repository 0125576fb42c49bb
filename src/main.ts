/**
 * Process entry: the `pallet` CLI.
 */
import { Command } from 'commander';
import { buildApp, createLogger } from './app.js';
import { externalBaseUrl, loadConfig } from './config/config.js';
import { isPalletError } from './base/errors.js';

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

program.parseAsync(process.argv).catch((err: unknown) => {
  if (isPalletError(err)) {
    console.error(`pallet: ${err.message}`);
  } else {
    console.error(err);
  }
  process.exit(1);
});
