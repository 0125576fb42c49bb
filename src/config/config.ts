/**
 * Configuration: defaults ← YAML config file ← `PALLET_*` environment ← command-line flags.
 * Every key can be overridden from the environment: the variable is `PALLET_` plus the key path
 * in SCREAMING_SNAKE_CASE (`dataDir` → `PALLET_DATA_DIR`, `database.url` → `PALLET_DATABASE_URL`,
 * `s3.forcePathStyle` → `PALLET_S3_FORCE_PATH_STYLE`). `examples/pallet.yaml` documents each key.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseTrustProxy } from '../base/client-address.js';
import { PalletError } from '../base/errors.js';

export interface Config {
  host: string;
  port: number;
  /** Where SQLite and the filesystem storage driver keep their files. */
  dataDir: string;
  /** External URL (scheme://host[:port]) used in token realms and Setup Client commands. */
  baseUrl: string;
  logLevel: string;
  adminPassword: string;
  /** `filesystem` (default, under dataDir), `memory` (tests only) or `s3`. */
  storage: string;
  database: {
    /** `postgres://…`; empty means SQLite at `<dataDir>/pallet.db`. */
    url: string;
    /** PostgreSQL schema to use (created when missing); empty means the server default. */
    schema: string;
  };
  s3: {
    endpoint: string;
    bucket: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
    forcePathStyle: boolean;
    /** Answer whole-blob GETs with a 307 to a presigned URL valid this long (0: serve them). */
    redirectSeconds: number;
  };
  limits: {
    /** Largest manifest accepted on PUT. */
    manifestBytes: number;
    /**
     * Free disk space kept for deletes and GC (filesystem storage): below it, new uploads are
     * refused with 507 while pulls, deletes and `pallet gc` keep working. 0: no reserve.
     */
    diskHeadroomBytes: number;
  };
  uploads: {
    /** Upload sessions untouched for this long are removed. */
    staleAfterSeconds: number;
    /**
     * Open upload sessions one user may hold at once (anonymous pushes: one client address);
     * a further POST gets 429 TOOMANYREQUESTS. 0: unbounded.
     */
    maxOpenSessionsPerUser: number;
    /**
     * How long a request's hold on an upload session lasts without renewal (renewed every
     * third of it while the request streams). A replica that dies mid-chunk blocks the session
     * this long; then another request may resume it.
     */
    leaseSeconds: number;
  };
  gc: {
    /**
     * Garbage younger than this stays: links not yet used by a manifest, upload sessions,
     * unrecorded bytes; also how long an upload's reservation protects its blob.
     */
    graceSeconds: number;
    /** Run GC every this many seconds on every replica (one at a time; 0: only `pallet gc`). */
    intervalSeconds: number;
  };
  cleanup: {
    /** Run the registries' enabled cleanup policies this often (one replica at a time; 0: never). */
    intervalSeconds: number;
  };
  auth: {
    /** Off: every request may do everything (benchmarks, trusted networks). On by default. */
    enabled: boolean;
    /** Lifetime of a token-service JWT (`/v2/token`). */
    tokenTtlSeconds: number;
    /** Lifetime of a web session (UI login); not extended by use. */
    sessionTtlSeconds: number;
    /** How long verified credentials, access-token lookups and roles are cached per replica. */
    cacheSeconds: number;
    /** Expiry of an access token created without `expiresInDays`. */
    tokenDefaultDays: number;
    /**
     * Failed logins of one (username, client address) pair before its password attempts are
     * delayed (growing delays, never a refusal; see src/auth/login-throttle.ts). 0: never.
     */
    maxFailedLoginsPerUser: number;
    /** Failed logins of one client address before its failing answers are delayed. 0: never. */
    maxFailedLoginsPerAddress: number;
    /** How long failures are remembered after the last one. */
    failedLoginWindowSeconds: number;
    /** Longest throttling delay of one attempt, in milliseconds (0: no delays). */
    maxLoginDelayMs: number;
  };
  server: {
    /**
     * Reverse proxies whose `X-Forwarded-For` is believed: comma-separated addresses and CIDRs
     * (`10.0.0.0/8, 127.0.0.1`). Empty: none; the client address is the peer's.
     */
    trustProxy: string;
    /** Time a client has to send a request's headers (Node's headersTimeout). */
    headersTimeoutSeconds: number;
    /** A request body that sends nothing for this long (while the server waits for it) is cut; 0: never. */
    bodyIdleTimeoutSeconds: number;
    /** A request body averaging less than this over `minBodyRateWindowSeconds` is cut; 0: never. */
    minBodyBytesPerSecond: number;
    /** The window of the minimum rate, and the grace period before it applies. */
    minBodyRateWindowSeconds: number;
    /** Open connections one remote address may hold; further ones are refused (503). 0: no cap. */
    maxConnectionsPerAddress: number;
  };
  audit: {
    /** Audit events older than this many days are deleted (0: kept forever). */
    retentionDays: number;
    /** At most this many audit rows are kept, the oldest deleted first (0: no cap). */
    maxRows: number;
  };
  upstream: {
    /** How long a request to an upstream registry may wait for an answer or the next bytes. */
    timeoutMs: number;
    /** How long an upstream's "not found" is remembered (0: not at all). */
    notFoundTtlSeconds: number;
    /**
     * Key that encrypts upstream passwords at rest (any string; a key is derived from it).
     * Empty: a random key generated once and kept in the database, shared by every replica.
     */
    secretKey: string;
    /**
     * Non-public networks upstream connections may reach (comma-separated addresses/CIDRs);
     * empty: public addresses only. See `upstream/egress.ts`.
     */
    allowedNetworks: string;
    /**
     * Hosts besides a proxy's own that may receive its credentials as a token service
     * (comma-separated; `auth.docker.io` is implied for Docker Hub proxies).
     */
    tokenRealmHosts: string;
    /**
     * Longest an upstream request may take to send its response headers, and a small body
     * (manifest, token, Helm index) in full, however slowly the upstream trickles them.
     */
    deadlineMs: number;
    /**
     * Hosts an upstream may redirect to besides its own origin (comma-separated: `host`,
     * `host:port`, `*.example.com`; `*` any public host). Docker Hub's CDN is implied for
     * Docker Hub proxies. A blob from another origin is verified before a client gets a byte.
     */
    redirectHosts: string;
    /** Slowest rate (bytes/s, over windows of `timeoutMs`) an upstream blob body may keep; 0: none. */
    minBytesPerSecond: number;
    /**
     * Longest a pull waits for another pull's fetch of the same blob from the same proxy; a
     * fetch nobody waits for any more stops once it is this old.
     */
    flightWaitMs: number;
    /** Largest blob or chart fetched from an upstream (bigger bodies are cut off); 0: no limit. */
    maxBlobBytes: number;
    /**
     * Hosts (comma-separated names, `name:port`, or `*.suffix`) besides an upstream's own
     * origin that the file URLs in its metadata may point at: chart URLs in a Helm index.yaml
     * (e.g. `github.com` for GitHub release assets), tarball URLs in an npm packument. Read
     * once for every format by `upstream/fetch-cache/file-hosts.ts`.
     */
    fileHosts: string;
  };
  /**
   * The package formats' own sections (`helm:`), by name, as loaded; each format declares its
   * section's keys and defaults (`PackageFormat.config`) and reads it with `formatSection`.
   * In YAML and the environment they sit at the top level like the core's (`PALLET_HELM_…`).
   */
  sections: Readonly<Record<string, Readonly<Record<string, ConfigValue>>>>;
}

/** A leaf value of a config section. */
export type ConfigValue = string | number | boolean;

/** A format's config section: key → default (which also fixes the key's type). */
export type ConfigSection = Readonly<Record<string, ConfigValue>>;

export const DEFAULTS: Config = {
  host: '127.0.0.1',
  port: 5000,
  dataDir: './data',
  baseUrl: '',
  logLevel: 'info',
  adminPassword: '',
  storage: 'filesystem',
  database: { url: '', schema: '' },
  s3: { endpoint: '', bucket: '', region: 'us-east-1', accessKeyId: '', secretAccessKey: '', forcePathStyle: true, redirectSeconds: 0 },
  limits: { manifestBytes: 4 * 1024 * 1024, diskHeadroomBytes: 256 * 1024 * 1024 },
  uploads: { staleAfterSeconds: 24 * 3600, maxOpenSessionsPerUser: 500, leaseSeconds: 15 },
  gc: { graceSeconds: 3600, intervalSeconds: 0 },
  cleanup: { intervalSeconds: 3600 },
  auth: {
    enabled: true,
    tokenTtlSeconds: 300,
    sessionTtlSeconds: 12 * 3600,
    cacheSeconds: 5,
    tokenDefaultDays: 90,
    maxFailedLoginsPerUser: 5,
    maxFailedLoginsPerAddress: 20,
    failedLoginWindowSeconds: 900,
    maxLoginDelayMs: 4000,
  },
  server: { trustProxy: '', headersTimeoutSeconds: 30, bodyIdleTimeoutSeconds: 60, minBodyBytesPerSecond: 1024, minBodyRateWindowSeconds: 60, maxConnectionsPerAddress: 256 },
  audit: { retentionDays: 90, maxRows: 1_000_000 },
  upstream: {
    timeoutMs: 30_000,
    notFoundTtlSeconds: 30,
    secretKey: '',
    allowedNetworks: '',
    tokenRealmHosts: '',
    deadlineMs: 30_000,
    redirectHosts: '',
    minBytesPerSecond: 16 * 1024,
    flightWaitMs: 600_000,
    maxBlobBytes: 16 * 1024 ** 3,
    fileHosts: '',
  },
  sections: {},
};

type Tree = Record<string, unknown>;

function snake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function coerce(path: string, defaultValue: unknown, raw: unknown): unknown {
  if (typeof defaultValue === 'number') {
    const n = typeof raw === 'number' ? raw : Number(raw);
    if (!Number.isFinite(n)) throw new PalletError('INVALID_ARGUMENT', `config ${path}: expected a number, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (typeof defaultValue === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new PalletError('INVALID_ARGUMENT', `config ${path}: expected true or false, got ${JSON.stringify(raw)}`);
  }
  if (typeof raw !== 'string' && typeof raw !== 'number') {
    throw new PalletError('INVALID_ARGUMENT', `config ${path}: expected a string, got ${JSON.stringify(raw)}`);
  }
  return String(raw);
}

/** Overlays `source` onto `target` (both shaped like DEFAULTS), rejecting unknown keys. */
function overlay(target: Tree, defaults: Tree, source: Tree, prefix: string): void {
  for (const [key, value] of Object.entries(source)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (!(key in defaults)) throw new PalletError('INVALID_ARGUMENT', `config: unknown key ${path}`);
    const def = defaults[key];
    if (def !== null && typeof def === 'object') {
      if (value === null || typeof value !== 'object') throw new PalletError('INVALID_ARGUMENT', `config ${path}: expected a section`);
      overlay(target[key] as Tree, def as Tree, value as Tree, path);
    } else if (value !== undefined) {
      target[key] = coerce(path, def, value);
    }
  }
}

function fromEnv(defaults: Tree, env: NodeJS.ProcessEnv, prefix: string[]): Tree {
  const out: Tree = {};
  for (const [key, def] of Object.entries(defaults)) {
    const path = [...prefix, key];
    if (def !== null && typeof def === 'object') {
      const sub = fromEnv(def as Tree, env, path);
      if (Object.keys(sub).length) out[key] = sub;
    } else {
      const name = `PALLET_${path.map(snake).join('_')}`;
      if (env[name] !== undefined) out[key] = env[name];
    }
  }
  return out;
}

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flat overrides from the command line, by key path (`port`, `dataDir`). */
  flags?: Tree;
  /**
   * The formats' sections (`formatConfigSections(FORMATS)`): their keys are accepted beside the
   * core's and loaded into `config.sections`. A key of a section not given here is unknown.
   */
  sections?: Readonly<Record<string, ConfigSection>>;
}

export function loadConfig(options: LoadOptions = {}): Config {
  const { sections: _none, ...core } = DEFAULTS;
  const sections = options.sections ?? {};
  for (const name of Object.keys(sections)) {
    if (name in core) throw new Error(`config section ${name} of a format clashes with a core key`);
  }
  const defaults = { ...structuredClone(core), ...structuredClone(sections) } as unknown as Tree;
  const config = structuredClone(defaults);
  const env = options.env ?? process.env;
  const file = options.file ?? env.PALLET_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new PalletError('INVALID_ARGUMENT', `config file ${file}: ${(err as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object') throw new PalletError('INVALID_ARGUMENT', `config file ${file}: expected a mapping`);
      overlay(config, defaults, parsed as Tree, '');
    }
  }
  overlay(config, defaults, fromEnv(defaults, env, []), '');
  if (options.flags) overlay(config, defaults, options.flags, '');
  const loaded: Record<string, Record<string, ConfigValue>> = {};
  for (const name of Object.keys(sections)) {
    loaded[name] = config[name] as Record<string, ConfigValue>;
    delete config[name];
  }
  const result = { ...config, sections: loaded } as unknown as Config;
  if (!['filesystem', 'memory', 's3'].includes(result.storage)) {
    throw new PalletError('INVALID_ARGUMENT', `config storage: expected filesystem, memory or s3, got ${JSON.stringify(result.storage)}`);
  }
  parseTrustProxy(result.server.trustProxy);
  return result;
}

/** The base URL clients reach this server at. */
export function externalBaseUrl(config: Config): string {
  if (config.baseUrl) return config.baseUrl.replace(/\/+$/, '');
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  return `http://${host}:${config.port}`;
}

/**
 * A format's section as loaded, over its `defaults` (so a config loaded without the format's
 * sections, as in some tests, still reads every key).
 */
export function formatSection<T extends ConfigSection>(config: Config, name: string, defaults: T): T {
  return { ...defaults, ...(config.sections[name] ?? {}) } as T;
}
