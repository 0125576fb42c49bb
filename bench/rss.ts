/**
 * Samples a process's resident set size (VmRSS in /proc/<pid>/status) every 50 ms while a
 * workload runs, and reports the largest sample in MiB.
 */
import { readFileSync } from 'node:fs';

const INTERVAL_MS = 50;

/** Current VmRSS of `pid` in KiB; undefined when the process is gone. */
export function rssKiB(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

/** Runs `work` while sampling `pid`; resolves to its result and the peak RSS in MiB. */
export async function withPeakRss<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peakMiB: number }> {
  let peak = rssKiB(pid) ?? 0;
  const timer = setInterval(() => {
    const kib = rssKiB(pid);
    if (kib !== undefined && kib > peak) peak = kib;
  }, INTERVAL_MS);
  try {
    const result = await work();
    const last = rssKiB(pid);
    if (last !== undefined && last > peak) peak = last;
    return { result, peakMiB: peak / 1024 };
  } finally {
    clearInterval(timer);
  }
}
