/**
 * The identity and access services of one process, wired over the identity store and the
 * metadata store: users, access tokens, members, web sessions, the token signer, access
 * decisions and the disclosure rule (`access-gate.ts`), authentication (`credentials.ts`) with its
 * caches and failed-login throttle, and the audit log.
 * `start()` loads (or creates) the signing key and bootstraps the first administrator.
 */
import type { Registry } from 'prom-client';
import type { Config } from '../config/config.js';
import type { IdentityStore } from '../metadata/identity-store.js';
import type { MetadataStore } from '../metadata/store.js';
import { AccessControl } from './access.js';
import { AccessGate } from './access-gate.js';
import { AccessTokenService } from './access-tokens.js';
import { AuditLog, type AuditSettings, type JobLocks } from './audit.js';
import { Authenticator } from './authenticator.js';
import { CredentialResolver } from './credentials.js';
import { MemberService } from './members.js';
import { OciTokenSigner, type SecretSealer } from './oci-tokens.js';
import { LoginThrottle } from './login-throttle.js';
import { SessionService } from './sessions.js';
import { UserService } from './users.js';

/** The `auth` section of the config (src/config/config.ts documents each key). */
export type AuthSettings = Config['auth'];

export interface AuthLog {
  warn(msg: string): void;
  error(err: unknown, msg: string): void;
}

export interface AuthOptions {
  /** Seals the token signing key at rest (the server's secret box); plain when omitted. */
  secrets?: SecretSealer;
  /** Where the throttle registers its metrics. */
  metrics?: Registry;
  /** Audit retention; without it the audit log is not pruned. */
  audit?: AuditSettings;
  /** One replica at a time for the audit retention job; without it every process prunes. */
  locks?: JobLocks;
}

export class Auth {
  readonly enabled: boolean;
  readonly users: UserService;
  readonly tokens: AccessTokenService;
  readonly members: MemberService;
  readonly sessions: SessionService;
  readonly signer: OciTokenSigner;
  readonly access: AccessControl;
  readonly authenticator: Authenticator;
  /** Credentials → principal, for every surface. */
  readonly credentials: CredentialResolver;
  /** Resolve, authorize, refuse the unknown like the private: for every surface. */
  readonly gate: AccessGate;
  readonly audit: AuditLog;
  readonly throttle: LoginThrottle;
  readonly #options: AuthOptions;

  constructor(
    readonly identity: IdentityStore,
    metadata: MetadataStore,
    settings: AuthSettings,
    private readonly log: AuthLog,
    options: AuthOptions = {},
  ) {
    const { secrets } = options;
    this.#options = options;
    const cacheMs = settings.cacheSeconds * 1000;
    this.enabled = settings.enabled;
    this.audit = new AuditLog(identity, (err) => log.error(err, 'could not write an audit event'));
    this.access = new AccessControl(identity, metadata, cacheMs);
    this.tokens = new AccessTokenService(identity, metadata, {
      cacheMs,
      defaultDays: settings.tokenDefaultDays,
      onError: (err) => log.error(err, 'could not record access token use'),
    });
    const forget = (userId: string): void => {
      this.access.invalidate(userId);
      this.tokens.forgetUser(userId);
      this.authenticator.forgetUser(userId);
    };
    this.users = new UserService(identity, forget);
    this.members = new MemberService(identity, metadata, forget);
    this.sessions = new SessionService(identity, settings.sessionTtlSeconds * 1000);
    this.signer = new OciTokenSigner(identity, { ttlSeconds: settings.tokenTtlSeconds, cacheMs, ...(secrets ? { secrets } : {}) });
    this.throttle = new LoginThrottle(
      {
        pairFree: settings.maxFailedLoginsPerUser,
        addressFree: settings.maxFailedLoginsPerAddress,
        windowMs: settings.failedLoginWindowSeconds * 1000,
        maxDelayMs: settings.maxLoginDelayMs,
      },
      options.metrics,
    );
    this.authenticator = new Authenticator({ users: this.users, tokens: this.tokens, throttle: this.throttle, audit: this.audit, cacheMs });
    this.credentials = new CredentialResolver({ enabled: this.enabled, authenticator: this.authenticator, signer: this.signer, sessions: this.sessions });
    this.gate = new AccessGate(this.access, metadata);
  }

  /** Loads or creates the token signing key; creates `admin` when there is no user yet. */
  async start(adminPassword: string): Promise<void> {
    await this.signer.init();
    if (this.#options.audit) this.audit.startRetention(this.#options.audit, this.#options.locks);
    await this.users.bootstrap(adminPassword, (generated) =>
      this.log.warn(
        `created the bootstrap administrator "admin" with the generated password ${generated} — ` +
          'it is shown only this once: log in and change it (or set PALLET_ADMIN_PASSWORD before the first start)',
      ),
    );
  }

  async close(): Promise<void> {
    this.throttle.close();
    this.audit.stop();
    await this.tokens.close();
  }
}
