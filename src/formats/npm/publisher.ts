/**
 * The writes of `PUT /<name>` and the unpublish endpoints, as the npm CLI sends them:
 *
 *   npm publish        PUT /<name>               document with `versions` (one) and `_attachments`
 *   npm deprecate      PUT /<name>/-rev/<rev>    the full packument, `deprecated` fields changed
 *   npm dist-tag …     (dist-tag endpoints, `packages.ts`)
 *   npm unpublish n@v  PUT /<name>/-rev/<rev>    the packument without v (and its tags), then
 *                      DELETE /<name>/-/<file>.tgz/-rev/<rev>
 *   npm unpublish n    DELETE /<name>/-rev/<rev>
 *
 * A publish, in order: the body is scanned as it streams (`publish-body.ts`) and the tarball
 * staged in a blob upload session, hashed in the same pass (`tarball-upload.ts`); the document
 * is checked against the URL and the tarball (`publish-check.ts`); a version that exists or
 * existed is refused (409); the tarball is committed as a blob; then the version is recorded
 * (package files, then the row: `npm-versions.ts`). Any refusal before the commit discards the
 * staged bytes. A metadata update may change deprecation messages and dist-tags and remove
 * versions (which also needs the delete permission); it may not add versions or change what a
 * published version is (its integrity), and it applies only to the revision the client read.
 */
import type { Readable } from 'node:stream';
import { PalletError } from '../../base/errors.js';
import { isJsonObject } from '../../base/json.js';
import type { MetadataStore } from '../../metadata/store.js';
import type { BlobService } from '../../registry/blobs.js';
import type { RegistryRef } from '../../registry/registries.js';
import type { NpmSettings } from './config.js';
import { checkPackageName } from './names.js';
import type { NpmVersions } from './npm-versions.js';
import { retag, withLatest, type NpmPackages } from './packages.js';
import { revNumber } from './packument.js';
import { checkPublish, checkTagName, type Publisher } from './publish-check.js';
import { PublishBodyScanner } from './publish-body.js';
import type { NpmPackageRecord, NpmStore, NpmVersionRecord, PackageChange } from './store/npm-store.js';
import { TarballUpload } from './tarball-upload.js';

export interface PutOptions {
  /** The `-rev/<rev>` of the URL, when it has one. */
  rev?: string;
  /** The publishing user (`_npmUser`, maintainers). */
  user?: Publisher;
  /** Who opens the upload session (the core bounds open sessions per owner). */
  owner?: string;
  /** The request's Content-Length, when it has one (refused at once when over the limit). */
  declaredLength?: number;
  /** Throws unless the caller may delete (asked only when versions would be removed). */
  mayDelete(): Promise<void>;
}

/** What a PUT did. */
export type PutResult = { kind: 'published'; version: string } | { kind: 'updated'; removed: string[] };

export class NpmPublisher {
  constructor(
    private readonly deps: { store: MetadataStore; npm: NpmStore; blobs: BlobService; versions: NpmVersions; packages: NpmPackages },
    private readonly settings: Pick<NpmSettings, 'publishBytes' | 'metadataBytes'>,
  ) {}

  /** `PUT /<name>`: a publish when the body carries a tarball, else a metadata update. */
  async put(ref: RegistryRef, name: string, body: Readable, options: PutOptions): Promise<PutResult> {
    if (ref.registry.kind !== 'local') throw new PalletError('DENIED', 'an upstream proxy is read-only: publish to a local registry');
    const pkgName = checkPackageName(name);
    if (options.declaredLength !== undefined && options.declaredLength > this.settings.publishBytes) {
      throw new PalletError('TOO_LARGE', `the publish body exceeds the limit of ${this.settings.publishBytes} bytes`);
    }
    let upload: TarballUpload | undefined;
    const scanner = new PublishBodyScanner({
      metadataBytes: this.settings.metadataBytes,
      onAttachment: async (file) => {
        const repo = await this.deps.store.ensureRepository(ref.registry.id, name);
        upload = await TarballUpload.start(this.deps.blobs, { rootSpaceId: ref.root.id, repositoryId: repo.id }, file, options.owner);
        return upload;
      },
    });
    try {
      let total = 0;
      // Not destroyed on an early stop: the client still gets the answer (see readRequestBody).
      for await (const chunk of cutOffAsInvalid(body.iterator({ destroyOnReturn: false }))) {
        total += chunk.length;
        if (total > this.settings.publishBytes) throw new PalletError('TOO_LARGE', `the publish body exceeds the limit of ${this.settings.publishBytes} bytes`);
        await scanner.push(chunk);
      }
      const doc = await scanner.finish();
      if (!upload) return await this.#update(ref, name, doc, options);
      const version = await this.#publish(ref, pkgName, doc, upload, options.user);
      return { kind: 'published', version };
    } finally {
      await upload?.cancel();
    }
  }

  async #publish(ref: RegistryRef, pkgName: ReturnType<typeof checkPackageName>, doc: Record<string, unknown>, upload: TarballUpload, user: Publisher | undefined): Promise<string> {
    const { npm, versions } = this.deps;
    const staged = upload.staged;
    if (!staged) throw new PalletError('INVALID_ARGUMENT', 'malformed publish body: the attachment did not end');
    const checked = checkPublish(pkgName, doc, staged, user);
    const name = pkgName.name;
    const registryId = ref.registry.id;
    if ((await npm.findVersion(registryId, name, checked.version)) || (await npm.isRetired(registryId, name, checked.version))) {
      throw new PalletError('ALREADY_EXISTS', `cannot publish over the previously published version ${name}@${checked.version}`, { name, version: checked.version });
    }
    const blob = await upload.commit();
    const repo = await this.deps.store.ensureRepository(registryId, name);
    const existing = await npm.findPackage(registryId, name);
    const becomesLatest = !existing || checked.distTags.includes('latest');
    await versions.add({
      version: {
        registryId,
        name,
        version: checked.version,
        manifest: checked.manifest,
        tarballDigest: blob.digest,
        tarballSize: blob.size,
        integrity: staged.integrity,
        shasum: staged.shasum,
      },
      repositoryId: repo.id,
      distTags: existing || checked.distTags.includes('latest') ? checked.distTags : [...checked.distTags, 'latest'],
      ...(becomesLatest ? { metadata: { ...(existing?.metadata ?? {}), ...checked.packageFields } } : {}),
    });
    return checked.version;
  }

  /** A metadata update (deprecate, un-deprecate, dist-tags, removing versions). */
  async #update(ref: RegistryRef, name: string, doc: Record<string, unknown>, options: PutOptions): Promise<PutResult> {
    const { npm, versions } = this.deps;
    if (doc.name !== undefined && doc.name !== name) throw new PalletError('INVALID_ARGUMENT', `the document names package ${JSON.stringify(doc.name)}, not ${name} of the URL`);
    if (!isJsonObject(doc.versions)) throw new PalletError('INVALID_ARGUMENT', 'a package update must carry "versions" (a publish must carry its tarball in "_attachments")');
    const pkg = await npm.findPackage(ref.registry.id, name);
    if (!pkg) throw new PalletError('NOT_FOUND', `package ${name} not found: publish it with its tarball first`, { name });
    const rev = checkRev(pkg, options.rev ?? (typeof doc._rev === 'string' ? doc._rev : undefined));
    const stored = await npm.listVersions(ref.registry.id, name);
    const change = diffVersions(name, stored, doc.versions);
    const left = stored.map((v) => v.version).filter((v) => !change.removeVersions?.includes(v));
    change.distTags = sentTags(name, doc['dist-tags'], pkg.distTags, left, change.removeVersions ?? []);
    if (change.removeVersions?.length) await options.mayDelete();
    await versions.update(ref.registry.id, name, rev, change);
    return { kind: 'updated', removed: [...(change.removeVersions ?? [])] };
  }

  /** `DELETE /<name>/-rev/<rev>`: the whole package (the caller checked the delete permission). */
  async unpublishPackage(ref: RegistryRef, name: string, rev: string | undefined): Promise<NpmVersionRecord[]> {
    const pkg = await this.#localPackage(ref, name);
    return this.deps.versions.removePackage(ref.registry.id, name, checkRev(pkg, rev));
  }

  /**
   * `DELETE /<name>/-/<file>.tgz/-rev/<rev>`: the version of that tarball, if the metadata update
   * before it did not already remove it (then there is nothing left to do).
   */
  async deleteTarball(ref: RegistryRef, name: string, file: string, rev: string | undefined): Promise<string | undefined> {
    const pkg = await this.#localPackage(ref, name);
    const found = await this.deps.packages.local.findByFile(ref.registry, name, file);
    if (!found) return undefined;
    checkRev(pkg, rev);
    await this.deps.packages.removeVersion(ref.registry, name, found.version.version);
    return found.version.version;
  }

  async #localPackage(ref: RegistryRef, name: string): Promise<NpmPackageRecord> {
    if (ref.registry.kind !== 'local') throw new PalletError('DENIED', 'an upstream proxy is read-only');
    const pkg = await this.deps.npm.findPackage(ref.registry.id, name);
    if (!pkg) throw new PalletError('NOT_FOUND', `package ${name} not found`, { name });
    return pkg;
  }
}

/** The body's chunks; a client that goes away mid-body is INVALID_ARGUMENT (a 4xx, not a server error). */
async function* cutOffAsInvalid(chunks: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  const iterator = chunks[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<unknown>;
    try {
      next = await iterator.next();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error).message === 'aborted') {
        throw new PalletError('INVALID_ARGUMENT', 'the publish body ended early: the client went away');
      }
      throw err;
    }
    if (next.done) return;
    yield next.value as Buffer;
  }
}

/** The stored rev a client's `_rev` names (CONFLICT when it is not the current one); the current when none was sent. */
function checkRev(pkg: NpmPackageRecord, sent: string | undefined): number {
  if (sent === undefined) return pkg.rev;
  if (revNumber(sent) !== pkg.rev) throw new PalletError('CONFLICT', `package ${pkg.name} changed since revision ${sent.slice(0, 40)} was read; read it again`, { name: pkg.name });
  return pkg.rev;
}

/** What a sent `versions` object changes: deprecations and removals; anything else is refused. */
function diffVersions(name: string, stored: readonly NpmVersionRecord[], sent: Record<string, unknown>): PackageChange {
  const known = new Map(stored.map((v) => [v.version, v]));
  for (const version of Object.keys(sent)) {
    if (!known.has(version)) throw new PalletError('INVALID_ARGUMENT', `${name}@${version} is not published: new versions are published with their tarball`);
  }
  const deprecated: Record<string, string | null> = {};
  const removeVersions: string[] = [];
  for (const row of stored) {
    const entry = sent[row.version];
    if (entry === undefined) {
      removeVersions.push(row.version);
      continue;
    }
    if (!isJsonObject(entry)) throw new PalletError('INVALID_ARGUMENT', `${name}@${row.version}: a version must be an object`);
    const dist = isJsonObject(entry.dist) ? entry.dist : {};
    if ((dist.integrity !== undefined && dist.integrity !== row.integrity) || (dist.shasum !== undefined && dist.shasum !== row.shasum)) {
      throw new PalletError('INVALID_ARGUMENT', `${name}@${row.version}: a published version's content cannot change`);
    }
    if (entry.deprecated !== undefined && typeof entry.deprecated !== 'string') throw new PalletError('INVALID_ARGUMENT', `${name}@${row.version}: deprecated must be a string`);
    const message = typeof entry.deprecated === 'string' && entry.deprecated !== '' ? entry.deprecated : null;
    if (message?.includes('\u0000')) throw new PalletError('INVALID_ARGUMENT', `${name}@${row.version}: the deprecation message holds a NUL character`);
    if (message !== null && message.length > 4096) throw new PalletError('INVALID_ARGUMENT', `${name}@${row.version}: the deprecation message is longer than 4096 characters`);
    if (message !== row.deprecated) deprecated[row.version] = message;
  }
  return { deprecated, removeVersions };
}

/** The dist-tags after an update: the sent ones (each naming a version that stays, or one removed now, which drops it), `latest` kept. */
function sentTags(name: string, sent: unknown, current: Record<string, string>, left: readonly string[], removed: readonly string[]): Record<string, string> {
  if (sent === undefined) return removed.reduce((tags, version) => retag(tags, version, left), current);
  if (!isJsonObject(sent)) throw new PalletError('INVALID_ARGUMENT', 'dist-tags must be an object');
  const out: Record<string, string> = {};
  for (const [tag, target] of Object.entries(sent)) {
    // A tag still naming a version this update removes goes with it (npm moves them itself).
    if (typeof target === 'string' && removed.includes(target)) continue;
    if (typeof target !== 'string' || !left.includes(target)) throw new PalletError('INVALID_ARGUMENT', `${name}: dist-tag ${tag} must name a published version`);
    if (current[tag] !== target) checkTagName(tag);
    out[tag] = target;
  }
  return withLatest(out, left);
}
