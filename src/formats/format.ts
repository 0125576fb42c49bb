/**
 * The format contract: everything a package format plugs into Pallet. A format is one folder,
 * `src/formats/<format>/`, whose `format.ts` exports a `PackageFormat`; `src/formats/index.ts`
 * lists them, and that list is the only place outside the folder that names the format.
 *
 * What the core does with a format, in order:
 * 1. `migrations` join the core's numbered migrations when the database is opened (names sort
 *    among the core's; a format's own tables only, never a core table).
 * 2. `create(core)` runs once per process after the core services are built; the parts it
 *    returns are the format's domain wired over the shared core (blobs, fetch-and-cache, auth,
 *    quotas, GC).
 * 3. `parts.routes` is mounted by the one `/pkg` dispatcher at `/pkg/:root/:registry/<pkgPath>/`,
 *    which owns not-found answers and answers HEAD for every GET route. OCI-based formats are
 *    served by `/v2` and may add a `manifestPolicy` that runs on every manifest push.
 * 4. The descriptor fields (`PackageTypeSpec`: label, icon, upstream sources and URL rules,
 *    setup steps) feed registry validation, the Setup Client, `GET /api/v1/package-types` and
 *    through it the web UI.
 * 5. `parts.close()` runs when the process stops.
 *
 * Files a format stores are content-addressed blobs committed through the core's blob path; a
 * format records which blobs its versions reference in the core's package files, which GC keeps.
 * Format folders never import each other; what two formats share lives below `src/formats/`.
 */
import type { FastifyInstance } from 'fastify';
import type { Kysely, Migration } from 'kysely';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { Log } from '../base/log.js';
import type { Config, ConfigSection } from '../config/config.js';
import type { Database, Dialect } from '../metadata/schema.js';
import type { RegistryRecord } from '../metadata/store.js';
import type { PackageTypeSpec } from '../registry/package-types.js';
import type { ManifestPolicy } from '../registry/manifests.js';
import type { Services } from '../services.js';

export type { PackageTypeSpec, SetupContext, SetupStep, UpstreamSourceSpec, VersionReference } from '../registry/package-types.js';

/** The shared core a format is built over (a subset of `Services`, plus the database). */
export interface FormatCore {
  config: Config;
  services: Services;
  /** The metadata database, for the format's own SQL store. */
  database: { db: Kysely<Database>; dialect: Dialect };
  metrics: MetricsRegistry;
  /** The process logger (requests hand the domain their own, which carries the request id). */
  log: Log;
}

/**
 * How the management API reaches the versions of a format that is not served over OCI. The core
 * lists such a format's artifacts, versions and files from its package files
 * (`registry/package-files.ts`: artifact = package name, version, files with path, digest and
 * size), so every version a format records there is shown without format code; these calls add
 * what only the format knows. `registry` is the registry the version is stored in (a local
 * registry, or the upstream proxy that cached it).
 */
export interface FormatPackages {
  /**
   * The format's detail of one version for the API (npm: dependencies, integrity, deprecation,
   * dist-tags), shown under the descriptor's `versionDetail.field`; null when it has none.
   */
  detail?(registry: RegistryRecord, artifact: string, version: string): Promise<Record<string, unknown> | null>;
  /** The tags (npm dist-tags) naming each version of an artifact: version → tags. */
  tags?(registry: RegistryRecord, artifact: string): Promise<ReadonlyMap<string, readonly string[]>>;
  /**
   * Deletes one version: the format's rows, then its package files (which hands the blobs to
   * GC). NOT_FOUND when the version is absent. Regenerated metadata (packuments, indexes) no
   * longer names it afterwards.
   */
  deleteVersion(registry: RegistryRecord, artifact: string, version: string, log: Log): Promise<void>;
  /** Deletes every version of an artifact and the artifact itself; NOT_FOUND when absent. */
  deleteArtifact(registry: RegistryRecord, artifact: string, log: Log): Promise<void>;
}

/** What a format adds to a running process. */
export interface FormatParts {
  /** For formats not served over OCI: what the management API needs beyond package files. */
  packages?: FormatPackages;
  /** Runs on every OCI manifest push (it decides itself whether the registry is its own). */
  manifestPolicy?: ManifestPolicy;
  /**
   * Registers the format's HTTP routes on `app`, scoped at `/pkg/:root/:registry/<pkgPath>`
   * (so paths are relative, e.g. `/index.yaml`). It may set its own error handler and content
   * parsers in that scope; it must not set a not-found handler (the dispatcher owns it).
   */
  routes?(app: FastifyInstance): Promise<void>;
  /** Stops timers, workers and pools. */
  close?(): Promise<void> | void;
}

export interface PackageFormat extends PackageTypeSpec {
  /**
   * Its config section, named after its type (`helm:` in YAML, `PALLET_HELM_…`): key → default.
   * Read it with `formatSection(config, type, defaults)`.
   */
  config?: ConfigSection;
  /** Its tables: migration name → migration (by dialect). Names are global and never change. */
  migrations?: Readonly<Record<string, (dialect: Dialect) => Migration>>;
  /** Builds its parts over the core; absent for formats that are only a descriptor. */
  create?(core: FormatCore): FormatParts;
}
