/**
 * Watching the event loop of an in-process server while a test request runs: the largest
 * delay over the request (`monitorEventLoopDelay`), the same measured just before while only
 * `/healthz` was polled (this machine's noise), and `/healthz` polled throughout, every answer
 * asserted 200. Tests assert the delay under `bound + noise` and print the figures for reports.
 */
import assert from 'node:assert/strict';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

export interface Watched<T> {
  res: T;
  maxDelayMs: number;
  healthy: number;
  /** `boundMs` given, plus the idle noise measured just before. */
  boundMs: number;
}

const ms = (ns: number): number => Math.round(ns / 1e5) / 10;

/** The largest event-loop delay (ms) over `forMs` of polling `base`/healthz alone. */
export async function baselineDelay(base: string, forMs: number): Promise<number> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const until = Date.now() + forMs;
  while (Date.now() < until) {
    await (await fetch(`${base}/healthz`)).arrayBuffer();
    await new Promise((r) => setTimeout(r, 20));
  }
  histogram.disable();
  return ms(histogram.max);
}

/** Runs `request` while sampling the event loop and polling `base`/healthz; prints the figures. */
export async function whileWatching<T extends { status: number }>(
  base: string,
  label: string,
  boundMs: number,
  request: () => Promise<T>,
  describe: (res: T) => string = () => '',
): Promise<Watched<T>> {
  const noise = await baselineDelay(base, 1000);
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  let done = false;
  let healthy = 0;
  const health = (async () => {
    while (!done) {
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      healthy += 1;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const started = performance.now();
  histogram.enable();
  let res: T;
  try {
    res = await request();
  } finally {
    histogram.disable();
    done = true;
    await health;
  }
  const maxDelayMs = ms(histogram.max);
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  console.log(
    `# ${label}: status ${res.status}${describe(res)} in ${seconds} s, max event-loop delay ${maxDelayMs} ms (idle baseline ${noise} ms), ` +
      `p99 ${ms(histogram.percentile(99))} ms, health checks answered ${healthy}`,
  );
  return { res, maxDelayMs, healthy, boundMs: boundMs + noise };
}
