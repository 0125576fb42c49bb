/**
 * Cleanup policies of registries: which versions of which artifacts to delete, run on a
 * schedule (one replica at a time, under the `cleanup` job lock) and on demand (with a dry run).
 * Deleting a version removes its manifest and tags; the blobs it alone used are then dead links,
 * which the next GC run past the grace period reclaims (see `gc.ts`).
 *
 * A policy (all fields optional, at least one rule):
 *   keepLastVersions: N             keep the N most recently pushed or tagged versions of each
 *                                   artifact (a version re-tagged `:stable` counts from then)
 *   deleteUntaggedOlderThanDays: D  delete versions without a tag pushed more than D days ago
 *   include: ["team/*"]             only artifacts whose name matches one of these globs
 *   exclude: ["team/keep-*"]        never artifacts whose name matches one of these globs
 *   enabled: true                   run on the schedule (on-demand runs ignore it)
 * Globs: `*` any characters but `/`, `**` any characters, `?` one character.
 *
 * Which versions go, per matching artifact:
 *   1. the artifact's *top-level* versions are those no other version of it holds: not a child
 *      of one of its indexes, not a referrer (signature, SBOM) of one of its versions;
 *   2. most recently pushed or tagged first, a top-level version goes when it is past the first
 *      N (keepLastVersions) or is untagged and pushed more than D days ago
 *      (deleteUntaggedOlderThanDays);
 *   3. everything the kept versions hold stays with them (index children, referrers of kept
 *      versions, transitively); every other version of the artifact goes.
 *   4. the doomed are deleted holders first (an index before its children, a referrer before
 *      its subject), each in a transaction that re-checks the snapshot's decision
 *      (`CleanupStore.deleteVersion`): a version tagged, or listed by an index or named as a
 *      subject by a referrer, since the snapshot stays, and so does everything it holds.
 */
import { PalletError } from '../base/errors.js';
import { isJsonObject } from '../base/json.js';
import type { Log } from '../base/log.js';
import type { CleanupStore } from '../metadata/cleanup-store.js';
import type { GcStore } from '../metadata/gc-store.js';
import type { MetadataStore, RegistryRecord, VersionRecord } from '../metadata/store.js';

const DAY_MS = 24 * 3600_000;

export interface CleanupPolicy {
  enabled: boolean;
  keepLastVersions?: number;
  deleteUntaggedOlderThanDays?: number;
  include?: string[];
  exclude?: string[];
}

export interface CleanupVersion {
  artifact: string;
  digest: string;
  tags: string[];
  /** Manifest plus everything it references (blobs shared with kept versions stay). */
  sizeBytes: number;
  createdAt: string;
}

export interface CleanupReport {
  dryRun: boolean;
  /** Versions deleted (or that a dry run would delete), by artifact then newest first. */
  versions: CleanupVersion[];
  deletedVersions: number;
  sizeBytes: number;
}

function invalid(message: string, field: string): PalletError {
  return new PalletError('INVALID_ARGUMENT', message, { field: `cleanupPolicy${field ? `.${field}` : ''}` });
}

function checkCount(value: unknown, field: string, min: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(`cleanupPolicy.${field} must be a whole number of at least ${min}; got ${JSON.stringify(value)}`, field);
  }
  return value;
}

function checkPatterns(value: unknown, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((p) => typeof p === 'string' && p.length > 0 && p.length <= 255)) {
    throw invalid(`cleanupPolicy.${field} must be an array of non-empty name patterns (globs: *, **, ?)`, field);
  }
  return value as string[];
}

/** Validates a policy from the API; null stays null (removes the policy). */
export function checkCleanupPolicy(value: unknown): CleanupPolicy | null | undefined {
  if (value === undefined || value === null) return value;
  if (!isJsonObject(value)) {
    throw invalid('cleanupPolicy must be an object: {"keepLastVersions", "deleteUntaggedOlderThanDays", "include", "exclude", "enabled"} or null', '');
  }
  const known = ['enabled', 'keepLastVersions', 'deleteUntaggedOlderThanDays', 'include', 'exclude'];
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw invalid(`cleanupPolicy has no field ${JSON.stringify(key)} (known: ${known.join(', ')})`, key);
  }
  if (value.enabled !== undefined && typeof value.enabled !== 'boolean') throw invalid('cleanupPolicy.enabled must be true or false', 'enabled');
  const policy: CleanupPolicy = { enabled: value.enabled ?? true };
  const keep = checkCount(value.keepLastVersions, 'keepLastVersions', 1);
  const days = checkCount(value.deleteUntaggedOlderThanDays, 'deleteUntaggedOlderThanDays', 0);
  const include = checkPatterns(value.include, 'include');
  const exclude = checkPatterns(value.exclude, 'exclude');
  if (keep === undefined && days === undefined) {
    throw invalid('cleanupPolicy needs at least one rule: keepLastVersions or deleteUntaggedOlderThanDays', '');
  }
  if (keep !== undefined) policy.keepLastVersions = keep;
  if (days !== undefined) policy.deleteUntaggedOlderThanDays = days;
  if (include !== undefined) policy.include = include;
  if (exclude !== undefined) policy.exclude = exclude;
  return policy;
}

/** A glob over artifact names as a regular expression. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') {
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else {
      out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${out}$`);
}

function matches(policy: CleanupPolicy, name: string): boolean {
  if (policy.include && !policy.include.some((g) => globToRegExp(g).test(name))) return false;
  if (policy.exclude?.some((g) => globToRegExp(g).test(name))) return false;
  return true;
}

/** `registry` names it in the log line (`acme/docker-local`, or its id on the schedule). */
function logRun(log: Log, registry: string, report: CleanupReport): void {
  if (report.dryRun || report.deletedVersions === 0) return;
  log.info({ cleanup: { registry, deletedVersions: report.deletedVersions, sizeBytes: report.sizeBytes } }, 'cleanup: deleted versions');
}

export class CleanupService {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: MetadataStore,
    private readonly policies: CleanupStore,
    private readonly locks: Pick<GcStore, 'withLock'>,
    /** The process logger: scheduled runs report here (on-demand runs to their caller's). */
    private readonly log: Log,
  ) {}

  async findPolicy(registryId: string): Promise<CleanupPolicy | undefined> {
    const stored = await this.policies.findPolicy(registryId);
    return stored ? (stored.policy as unknown as CleanupPolicy) : undefined;
  }

  /** Validates and stores (or, with null, removes) the registry's policy. */
  async setPolicy(registryId: string, value: unknown): Promise<void> {
    const policy = checkCleanupPolicy(value);
    if (policy === undefined) return;
    await this.policies.setPolicy(registryId, policy === null ? null : { ...policy });
  }

  /**
   * Runs the registry's policy now (whether or not it is enabled); NOT_FOUND without one. What
   * it deleted is logged to `log` (the request's logger, so the line carries its request id).
   */
  async run(registry: RegistryRecord, name: string, dryRun: boolean, log: Log, now = Date.now()): Promise<CleanupReport> {
    const policy = await this.findPolicy(registry.id);
    if (!policy) {
      throw new PalletError('NOT_FOUND', `registry ${name} has no cleanup policy: set one with PATCH {"cleanupPolicy": {…}}`, { registry: name });
    }
    const report = await this.apply(registry, policy, dryRun, now);
    if (!dryRun) await this.policies.markRun(registry.id, now);
    logRun(log, name, report);
    return report;
  }

  /** Runs every enabled policy once, under the `cleanup` job lock; undefined when another replica holds it. */
  async runScheduled(now = Date.now()): Promise<CleanupReport[] | undefined> {
    const locked = await this.locks.withLock('cleanup', async () => {
      const reports: CleanupReport[] = [];
      for (const stored of await this.policies.listPolicies()) {
        const policy = stored.policy as unknown as CleanupPolicy;
        if (!policy.enabled) continue;
        const registry = await this.store.findRegistryById(stored.registryId);
        if (!registry) continue;
        const report = await this.apply(registry, policy, false, now);
        await this.policies.markRun(registry.id, now);
        logRun(this.log, registry.id, report);
        reports.push(report);
      }
      return reports;
    });
    return locked?.result;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.runScheduled().catch((err: unknown) => this.log.error({ err }, 'cleanup: scheduled run failed'));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async apply(registry: RegistryRecord, policy: CleanupPolicy, dryRun: boolean, now: number): Promise<CleanupReport> {
    const report: CleanupReport = { dryRun, versions: [], deletedVersions: 0, sizeBytes: 0 };
    for (const repo of await this.store.listRepositories([registry.id])) {
      if (!matches(policy, repo.name)) continue;
      const { doomed, holds } = await this.doomed(repo.id, policy, now);
      for (const v of holdersFirst(doomed, holds)) {
        if (!dryRun && (await this.policies.deleteVersion(repo.id, v.digest, v.tags)) !== 'deleted') continue;
        report.versions.push({ artifact: repo.name, digest: v.digest, tags: v.tags, sizeBytes: v.totalSize, createdAt: new Date(v.createdAt).toISOString() });
        report.deletedVersions++;
        report.sizeBytes += v.totalSize;
      }
    }
    return report;
  }

  /**
   * The versions of one artifact that the policy deletes (steps 1–3 of the module header),
   * most recently active first, and which version holds which (digest → digests it holds).
   */
  private async doomed(repositoryId: string, policy: CleanupPolicy, now: number): Promise<{ doomed: VersionRecord[]; holds: Map<string, string[]> }> {
    const tagged = await this.policies.lastTagged(repositoryId);
    const activity = (v: VersionRecord): number => Math.max(v.createdAt, tagged.get(v.id) ?? 0);
    const versions = (await this.store.listVersions(repositoryId)).sort((a, b) => activity(b) - activity(a)); // stable: ties stay newest first
    const byDigest = new Map(versions.map((v) => [v.digest, v]));
    const holds = new Map<string, string[]>(); // digest → digests it holds
    const held = new Set<string>();
    for (const v of versions) {
      const children = (await this.store.listReferences(v.id)).filter((r) => r.kind === 'manifest' && byDigest.has(r.digest)).map((r) => r.digest);
      holds.set(v.digest, [...(holds.get(v.digest) ?? []), ...children]);
      for (const c of children) held.add(c);
      if (v.subjectDigest !== null && byDigest.has(v.subjectDigest)) {
        held.add(v.digest);
        holds.set(v.subjectDigest, [...(holds.get(v.subjectDigest) ?? []), v.digest]);
      }
    }
    const top = versions.filter((v) => !held.has(v.digest));
    const cutoff = policy.deleteUntaggedOlderThanDays === undefined ? undefined : now - policy.deleteUntaggedOlderThanDays * DAY_MS;
    const kept = new Set<string>();
    const queue = top
      .filter((v, i) => {
        const beyondLast = policy.keepLastVersions !== undefined && i >= policy.keepLastVersions;
        const staleUntagged = cutoff !== undefined && v.tags.length === 0 && v.createdAt < cutoff;
        return !beyondLast && !staleUntagged;
      })
      .map((v) => v.digest);
    for (let digest = queue.pop(); digest !== undefined; digest = queue.pop()) {
      if (kept.has(digest)) continue;
      kept.add(digest);
      queue.push(...(holds.get(digest) ?? []));
    }
    return { doomed: versions.filter((v) => !kept.has(v.digest)), holds };
  }
}

/**
 * Orders the doomed for deletion so that what depends on a version goes before it: an index
 * before the children it lists, a referrer before its subject. (In `holds` an index holds its
 * children but a subject holds its referrers, so the two edges point opposite ways here.)
 * A version whose deletion is refused then keeps what it depends on: their re-check sees it.
 */
function holdersFirst(doomed: VersionRecord[], holds: Map<string, string[]>): VersionRecord[] {
  const byDigest = new Map(doomed.map((v) => [v.digest, v]));
  const dependsOn = new Map<string, string[]>(); // digest → doomed digests it needs to exist
  for (const v of doomed) {
    for (const h of holds.get(v.digest) ?? []) {
      if (!byDigest.has(h)) continue;
      if (byDigest.get(h)!.subjectDigest === v.digest) dependsOn.set(h, [...(dependsOn.get(h) ?? []), v.digest]); // referrer → subject
      else dependsOn.set(v.digest, [...(dependsOn.get(v.digest) ?? []), h]); // index → child
    }
  }
  const waiting = new Map(doomed.map((v) => [v.digest, 0]));
  for (const needs of dependsOn.values()) for (const d of needs) waiting.set(d, (waiting.get(d) ?? 0) + 1);
  const ready = doomed.filter((v) => waiting.get(v.digest) === 0);
  const out: VersionRecord[] = [];
  for (let v = ready.shift(); v !== undefined; v = ready.shift()) {
    out.push(v);
    for (const d of dependsOn.get(v.digest) ?? []) {
      const left = (waiting.get(d) ?? 0) - 1;
      waiting.set(d, left);
      if (left === 0) ready.push(byDigest.get(d)!);
    }
  }
  // A cycle (not possible with content addressing, but never loop or drop): the rest as listed.
  for (const v of doomed) if (!out.includes(v)) out.push(v);
  return out;
}
