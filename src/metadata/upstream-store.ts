/**
 * What upstream proxies keep beside the metadata store: when each cached tag was last confirmed
 * against its upstream, which proxy repositories a local registry served through its upstream
 * list (its artifact view), and server-wide secrets every replica shares (the key that encrypts
 * upstream passwords). One SQL implementation over the metadata database's Kysely instance
 * (`sql-upstream-store.ts`) passes the shared suite in `upstream-store.suite.ts` on SQLite and
 * PostgreSQL.
 *
 * Contracts: every method is atomic; times are milliseconds since the epoch. Rows go with the
 * repository or registry they name (ON DELETE CASCADE); methods that write a row for a missing
 * repository or registry do nothing.
 */

export interface ServedArtifact {
  /** The upstream proxy whose cache holds the repository. */
  upstreamId: string;
  repositoryId: string;
  /** The repository's name inside the proxy (the artifact name). */
  name: string;
}

export interface UpstreamStore {
  /** When the cached tag was last confirmed against the upstream; undefined when never. */
  findTagCheck(repositoryId: string, tag: string): Promise<number | undefined>;
  /** Records (or moves forward) the time the cached tag was confirmed. */
  markTagChecked(repositoryId: string, tag: string, at: number): Promise<void>;
  /** Records that local registry `registryId` served proxy repository `repositoryId` (idempotent). */
  recordServed(registryId: string, repositoryId: string): Promise<void>;
  /** Proxy repositories the registry served, oldest first. */
  listServed(registryId: string): Promise<ServedArtifact[]>;
  /**
   * The server secret `name`, created with `create()` when there is none. When several replicas
   * race, every one of them gets the value the first one stored.
   */
  serverSecret(name: string, create: () => string): Promise<string>;
}
