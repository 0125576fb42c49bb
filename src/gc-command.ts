/**
 * `pallet gc [--dry-run]`: one garbage-collection run against the deployment that the config
 * names (the same database and storage as the serving replicas, which keep serving). Progress
 * goes to stderr, one line per step and batch; the report goes to stdout as JSON; structured
 * logs (pino, `gc:` messages) go to stdout at the configured level (warn unless set).
 *
 * Exit codes: 0 done, 3 another run holds the GC lock.
 */
import { formatBytes } from './base/bytes.js';
import { buildApp, createLogger } from './app.js';
import type { Config } from './config/config.js';
import type { GcProgress } from './registry/gc.js';

export async function runGcCommand(config: Config, dryRun: boolean): Promise<number> {
  const log = createLogger(config);
  const { server, services } = await buildApp(config, log);
  try {
    const { gc } = services;
    const graceMs = config.gc.graceSeconds * 1000;
    process.stderr.write(`pallet gc: ${dryRun ? 'dry run, ' : ''}grace ${config.gc.graceSeconds}s\n`);
    const report = await gc.run({ dryRun, graceMs, onProgress: (p) => process.stderr.write(progressLine(p, dryRun)) });
    if (!report) {
      process.stderr.write('pallet gc: another replica or process is collecting garbage; try again later\n');
      return 3;
    }
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    const total = report.blobs.bytes + report.leftovers.bytes;
    process.stderr.write(
      `pallet gc: ${dryRun ? 'would remove' : 'removed'} ${report.blobs.count} blobs, ${report.deadLinks} links, ` +
        `${report.staleUploads} uploads, ${report.leftovers.blobs + report.leftovers.uploads} leftovers; ${formatBytes(total)} in ${report.durationMs} ms\n`,
    );
    return 0;
  } finally {
    await server.close();
  }
}

function progressLine(p: GcProgress, dryRun: boolean): string {
  const verb = dryRun ? 'would remove' : 'removed';
  return `pallet gc: ${p.step}: ${verb} ${p.count}${p.bytes > 0 ? ` (${formatBytes(p.bytes)})` : ''}${p.done ? '' : '…'}\n`;
}

