/**
 * Runs wrk against one URL and parses its report: requests/s, p99 latency (from `--latency`),
 * and the error counters. Any non-2xx/3xx response or socket error fails the run, since wrk
 * would otherwise count failures as throughput.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface WrkResult {
  requestsPerSecond: number;
  p99Ms: number | undefined;
  requests: number;
}

export interface WrkOptions {
  url: string;
  seconds: number;
  connections: number;
  threads: number;
  headers: Record<string, string>;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  switch (unit) {
    case 'us':
      return n / 1000;
    case 'ms':
      return n;
    case 's':
      return n * 1000;
    case 'm':
      return n * 60_000;
    default:
      throw new Error(`wrk: unknown latency unit ${unit}`);
  }
}

export function parseWrk(output: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(output);
  const total = /^\s*(\d+) requests in /m.exec(output);
  if (!rps || !total) throw new Error(`wrk: could not parse its report:\n${output}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  if (non2xx) throw new Error(`wrk: ${non2xx[1]} responses were not 2xx/3xx:\n${output}`);
  const socketErrors = /Socket errors:\s+connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  if (socketErrors && socketErrors.slice(1).some((n) => Number(n) > 0)) throw new Error(`wrk: socket errors:\n${output}`);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(output);
  return {
    requestsPerSecond: Number(rps[1]),
    p99Ms: p99 ? toMs(p99[1]!, p99[2]!) : undefined,
    requests: Number(total[1]),
  };
}

export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = ['-t', String(options.threads), '-c', String(options.connections), '-d', `${options.seconds}s`, '--latency'];
  for (const [name, value] of Object.entries(options.headers)) args.push('-H', `${name}: ${value}`);
  args.push(options.url);
  const { stdout } = await run('wrk', args, { maxBuffer: 1024 * 1024 });
  return parseWrk(stdout);
}
