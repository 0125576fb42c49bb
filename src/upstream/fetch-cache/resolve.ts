/**
 * The resolution order every format follows (DESIGN.md), written once:
 *   1. a local registry's own content (`own`); a proxy has none;
 *   2. optionally, what any of the candidate proxies already cached (`cached`), so a cached
 *      copy is served before any upstream is asked;
 *   3. each upstream proxy in list order (`attempt`); for a proxy target, the proxy itself.
 * How an error of one step is taken (`verdictOf`):
 *   - a miss (not there: NAME_/MANIFEST_/BLOB_UNKNOWN, or `undefined`): the next one is asked;
 *   - a denial (DENIED after authenticating, as Docker Hub answers for a missing repository):
 *     the next one is asked, and the denial is named in the final error;
 *   - a failure (UNAVAILABLE, TOOMANYREQUESTS: could not ask): logged, the next one is asked,
 *     and the final error is the format's "could not fetch" (`failed`) naming every upstream;
 *   - anything else (bad input, a storage error) stops the resolution and is thrown.
 * `collectInOrder` is the same order for answers merged from every upstream (an index): a
 * local registry leaves out an upstream that fails or denies; a proxy's own answer fails with it.
 */
import { isPalletError, PalletError } from '../../base/errors.js';
import type { RegistryRecord } from '../../metadata/store.js';
import { isFailure, isMiss, message } from './errors.js';
import type { UpstreamLog } from './upstreams.js';

export type Verdict = 'miss' | 'denied' | 'failure' | 'stop';

export function verdictOf(err: unknown): Verdict {
  if (isMiss(err)) return 'miss';
  if (isPalletError(err, 'DENIED')) return 'denied';
  if (isFailure(err)) return 'failure';
  return 'stop';
}

export interface Resolution<T> {
  /** The registry's own content; undefined (or a miss) when it has none. Absent for a proxy. */
  own?: (() => Promise<T | undefined>) | undefined;
  /** The upstream proxies to ask, in order (asked after `own` missed). */
  upstreams(): Promise<readonly RegistryRecord[]>;
  /** What one of `upstreams` already cached, before any upstream is asked. */
  cached?: ((upstreams: readonly RegistryRecord[]) => Promise<T | undefined>) | undefined;
  /** Asks one proxy (its cache, then its upstream); undefined (or a miss) when it has none. */
  attempt(upstream: RegistryRecord): Promise<T | undefined>;
  /** `<root>/<identifier>` of a proxy. */
  labelOf(upstream: RegistryRecord): string;
  /** None had it; `notes` name the denials; `ownMiss` is the own content's miss, if it threw one. */
  notFound(upstreams: readonly RegistryRecord[], notes: string[], ownMiss: unknown): Error;
  /** None had it and at least one could not be asked: `failure` is the first such error. */
  failed(failure: PalletError, upstreams: readonly RegistryRecord[], notes: string[]): Error;
  log: UpstreamLog;
  /** Fields of the log line of a failure. */
  fields: Record<string, unknown>;
}

/** The first answer in the resolution order (see the module header). */
export async function resolveInOrder<T>(r: Resolution<T>): Promise<T> {
  let ownMiss: unknown;
  if (r.own) {
    try {
      const found = await r.own();
      if (found !== undefined) return found;
    } catch (err) {
      if (verdictOf(err) !== 'miss') throw err;
      ownMiss = err;
    }
  }
  const upstreams = await r.upstreams();
  if (upstreams.length === 0) throw ownMiss !== undefined ? ownMiss : r.notFound(upstreams, [], ownMiss);
  const cached = await r.cached?.(upstreams);
  if (cached !== undefined) return cached;
  const notes: string[] = [];
  let failure: PalletError | undefined;
  for (const upstream of upstreams) {
    try {
      const found = await r.attempt(upstream);
      if (found !== undefined) return found;
    } catch (err) {
      const verdict = verdictOf(err);
      const label = r.labelOf(upstream);
      if (verdict === 'stop') throw err;
      if (verdict === 'miss') continue;
      notes.push(`${label}: ${message(err)}`);
      if (verdict === 'failure') {
        failure ??= err as PalletError;
        r.log.warn({ upstream: label, ...r.fields, reason: message(err) }, 'upstream: could not fetch');
      }
    }
  }
  if (failure) throw r.failed(failure, upstreams, notes);
  throw r.notFound(upstreams, notes, ownMiss);
}

/**
 * Every upstream's answer, in order. For a local registry (`skipFailures`) an upstream that
 * fails or denies gives `skipped(upstream, err)` instead; otherwise its error is thrown.
 */
export async function collectInOrder<T>(
  upstreams: readonly RegistryRecord[],
  attempt: (upstream: RegistryRecord) => Promise<T>,
  skipFailures: boolean,
  skipped: (upstream: RegistryRecord, err: unknown) => T,
): Promise<T[]> {
  const out: T[] = [];
  for (const upstream of upstreams) {
    try {
      out.push(await attempt(upstream));
    } catch (err) {
      const verdict = verdictOf(err);
      if (!skipFailures || (verdict !== 'failure' && verdict !== 'denied')) throw err;
      out.push(skipped(upstream, err));
    }
  }
  return out;
}
