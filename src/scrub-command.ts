/**
 * `pallet scrub [--repair]`: reads every stored blob of the deployment that the config names
 * back through its digest's hash (online: serving replicas keep serving). Progress goes to
 * stderr, one line per batch; each problem to stderr as it is found; the report to stdout as
 * JSON; structured logs (pino, `scrub:` messages) to stdout at the configured level.
 *
 * With `--repair`, a blob whose bytes do not match its digest is moved to `quarantine/…` in
 * storage and its row and links are removed (clients get BLOB_UNKNOWN; a push heals it).
 *
 * Exit codes: 0 every blob matched (or every mismatch was quarantined), 4 problems remain.
 */
import { formatBytes } from './base/bytes.js';
import { buildApp, createLogger } from './app.js';
import type { Writable } from 'node:stream';
import type { Config } from './config/config.js';
import type { ScrubProgress, ScrubReport } from './registry/scrub.js';

export interface ScrubIo {
  stdout: Writable;
  stderr: Writable;
}

export async function runScrubCommand(config: Config, repair: boolean, io: ScrubIo = process): Promise<number> {
  const log = createLogger(config);
  const { server, services } = await buildApp(config, log);
  try {
    const { scrub } = services;
    io.stderr.write(`pallet scrub: ${repair ? 'checking and repairing' : 'checking'} every stored blob\n`);
    const report = await scrub.run({
      repair,
      onProgress: (p) => {
        io.stderr.write(progressLine(p));
      },
    });
    for (const f of report.findings) {
      const what = f.problem === 'missing' ? 'bytes missing' : `bytes hash to ${f.computed} (${f.storedSize} bytes, row says ${f.size})`;
      io.stderr.write(`pallet scrub: ${f.rootSpaceId} ${f.digest}: ${what}; ${f.action}${f.quarantineKey ? ` to ${f.quarantineKey}` : ''}\n`);
    }
    io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    io.stderr.write(summary(report));
    return remaining(report) > 0 ? 4 : 0;
  } finally {
    await server.close();
  }
}

/** Problems a repair did not take care of (all of them without `--repair`). */
function remaining(report: ScrubReport): number {
  return report.findings.filter((f) => f.action !== 'quarantined').length;
}

function progressLine(p: ScrubProgress): string {
  return `pallet scrub: checked ${p.checked} blobs (${formatBytes(p.bytes)}), ${p.problems} problems${p.done ? '' : '…'}\n`;
}

function summary(r: ScrubReport): string {
  return (
    `pallet scrub: ${r.checked} blobs, ${formatBytes(r.bytes)} read in ${r.durationMs} ms: ${r.ok} ok (${r.newlyVerified} newly verified), ` +
    `${r.mismatched} mismatched, ${r.missing} missing${r.repair ? `, ${r.quarantined} quarantined, ${r.skipped} skipped` : ''}\n`
  );
}
