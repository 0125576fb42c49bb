/**
 * The management API's types, GENERATED from the server's OpenAPI document by
 * scripts/gen-api-types.ts (`npm run gen:api-types`): do not edit.
 */

export type Error = {
  /** Machine-readable error code */
  code: "NOT_FOUND" | "ALREADY_EXISTS" | "CONFLICT" | "INVALID_NAME" | "INVALID_ARGUMENT" | "TOO_LARGE" | "UNAVAILABLE" | "INSUFFICIENT_STORAGE" | "UNAUTHORIZED" | "FORBIDDEN" | "UNSUPPORTED" | "UNSUPPORTED_MEDIA_TYPE" | "TOO_MANY_REQUESTS" | "INTERNAL";
  /** What went wrong, for people */
  message: string;
  /** Structured context (field, names in use, …) */
  details: Record<string, unknown>;
};

export type Space = {
  /** `acme` or `acme/payments`; every segment follows the name rule ^[a-z][a-z0-9._-]*$ (at most 255 characters) */
  path: string;
  /** The last path segment */
  name: string;
  /** Path of the parent space; null for a root space */
  parent: string | null;
  /** The root space (first segment) */
  root: string;
  /** Description */
  description: string;
  /** Creation time */
  createdAt: string;
  /** Last change */
  updatedAt: string;
  /** Quota in bytes over its registries and nested spaces; absent when none */
  quotaBytes?: number | null;
  /** Bytes its registries and those of nested spaces hold (shown with a quota) */
  usageBytes?: number;
};

export type SpaceList = {
  items: Space[];
  /** Items matching the query, on all pages */
  total: number;
  /** This page (from 1) */
  page: number;
  /** Page size asked for */
  size: number;
};

export type Registry = {
  /** The space that holds the registry */
  space: string;
  /** Its root space */
  root: string;
  /** Name, unique in the root space */
  identifier: string;
  /** Package type, fixed at creation: one of `GET /package-types` */
  packageType: string;
  /** `local` (hosted) or `upstream` (a proxy), fixed at creation */
  kind: "local" | "upstream";
  /** Description */
  description: string;
  /** Labels */
  labels: string[];
  /** Anonymous pulls allowed */
  public: boolean;
  /** Ordered upstream proxy identifiers (empty for proxies) */
  upstreams: string[];
  upstream: {
    /** Upstream source (one of the package type’s `sources`) */
    source: string;
    /** Remote URL */
    url: string;
    auth: {
      /** anonymous or basic */
      type: "anonymous" | "basic";
      /** Username (basic) */
      username?: string;
    };
    /** Tag/index cache TTL in seconds */
    tagTtlSeconds: number;
  } | null;
  /** `<baseUrl>/<root>/<identifier>`, where OCI clients find it */
  url: string;
  /** Bytes stored */
  sizeBytes: number;
  /** Artifacts */
  artifactCount: number;
  /** Downloads of all versions */
  downloadCount: number;
  /** Creation time */
  createdAt: string;
  /** Latest change to its configuration or content */
  updatedAt: string;
  /** Quota in bytes (blobs and manifests); absent when none */
  quotaBytes?: number | null;
  /** Cleanup policy; absent when none */
  cleanupPolicy?: {
    /** Run on the schedule (default true); on-demand runs ignore it */
    enabled?: boolean;
    /** Keep the N most recently pushed versions of each artifact */
    keepLastVersions?: number;
    /** Delete untagged versions pushed more than D days ago */
    deleteUntaggedOlderThanDays?: number;
    /** Only artifacts matching one of these globs (*, **, ?) */
    include?: string[];
    /** Never artifacts matching one of these globs */
    exclude?: string[];
  };
  /** Every setting the format declares (`GET /package-types`), with its value on this registry or else its default; `{}` for a format without settings */
  settings: Record<string, boolean | string | number>;
};

export type RegistryList = {
  items: Registry[];
  /** Items matching the query, on all pages */
  total: number;
  /** This page (from 1) */
  page: number;
  /** Page size asked for */
  size: number;
};

export type Setup = {
  /** Package type, fixed at creation: one of `GET /package-types` */
  packageType: string;
  steps: Array<{
    /** Step title */
    title: string;
    /** Shell commands, in order */
    commands: string[];
    /** Advice for the step */
    note?: string;
  }>;
};

export type PackageType = {
  /** The `packageType` of its registries */
  type: string;
  /** How people call it */
  label: string;
  /** One line for the "new registry" type cards */
  description: string;
  /** An icon name; a client without that icon shows a generic one */
  icon: string;
  /** Served over `/v2` (OCI distribution) */
  ociBased: boolean;
  /** The folder of its own routes under `/pkg/<root>/<registry>/`; absent when it has none */
  pkgPath?: string;
  /** The upstream sources its proxies may use, in the order to offer them */
  sources: Array<{
    /** The `upstream.source` value */
    id: string;
    /** How people call it */
    label: string;
    /** The fixed URL of a well-known public source (its proxies take no `url`); absent for `custom` */
    defaultUrl?: string;
  }>;
  /** The source of an upstream config that names none; absent: `source` is required */
  defaultSource?: string;
  /** URL schemes a custom source may use (`http:`, `https:`, …) */
  urlSchemes: string[];
  /** What a custom URL points at, for forms and messages */
  urlHint: string;
  /** Setup Client steps of a private local registry of this type, with `<root>` and `<registry>` for its root space and name (`GET /registries/{root}/{identifier}/setup` fills them in) */
  setup: Array<{
    /** Step title */
    title: string;
    /** Shell commands, in order */
    commands: string[];
    /** Advice for the step */
    note?: string;
  }>;
  /** Per-registry settings of the format (set under `settings` on create and PATCH of a registry), by key; `{}` when it has none */
  settings: Record<string, {
    /** The value type */
    type: "boolean" | "string" | "integer";
    /** The value of a registry that does not set it */
    default: boolean | string | number;
    /** What it does, for people */
    description: string;
    /** The values a string setting takes; absent: any string */
    enum?: string[];
    /** Least value of an integer setting */
    minimum?: number;
    /** Greatest value of an integer setting */
    maximum?: number;
  }>;
  /** Where a version’s format detail is in the version detail (`GET …/versions/{version}`); absent when the format has none */
  versionDetail?: {
    /** The version detail’s field */
    field: string;
    /** What it holds */
    description: string;
  };
  /** The command that fetches one version, with `<root>`, `<registry>`, `<artifact>` and `<tag>` or `<digest>` to fill in; absent when the type has none */
  pull?: {
    /** By tag */
    byTag: string;
    /** By manifest digest */
    byDigest: string;
  };
};

export type PackageTypeList = {
  /** The package types this server serves, in registration order */
  items: Array<{
    /** The `packageType` of its registries */
    type: string;
    /** How people call it */
    label: string;
    /** One line for the "new registry" type cards */
    description: string;
    /** An icon name; a client without that icon shows a generic one */
    icon: string;
    /** Served over `/v2` (OCI distribution) */
    ociBased: boolean;
    /** The folder of its own routes under `/pkg/<root>/<registry>/`; absent when it has none */
    pkgPath?: string;
    /** The upstream sources its proxies may use, in the order to offer them */
    sources: Array<{
      /** The `upstream.source` value */
      id: string;
      /** How people call it */
      label: string;
      /** The fixed URL of a well-known public source (its proxies take no `url`); absent for `custom` */
      defaultUrl?: string;
    }>;
    /** The source of an upstream config that names none; absent: `source` is required */
    defaultSource?: string;
    /** URL schemes a custom source may use (`http:`, `https:`, …) */
    urlSchemes: string[];
    /** What a custom URL points at, for forms and messages */
    urlHint: string;
    /** Setup Client steps of a private local registry of this type, with `<root>` and `<registry>` for its root space and name (`GET /registries/{root}/{identifier}/setup` fills them in) */
    setup: Array<{
      /** Step title */
      title: string;
      /** Shell commands, in order */
      commands: string[];
      /** Advice for the step */
      note?: string;
    }>;
    /** Per-registry settings of the format (set under `settings` on create and PATCH of a registry), by key; `{}` when it has none */
    settings: Record<string, {
      /** The value type */
      type: "boolean" | "string" | "integer";
      /** The value of a registry that does not set it */
      default: boolean | string | number;
      /** What it does, for people */
      description: string;
      /** The values a string setting takes; absent: any string */
      enum?: string[];
      /** Least value of an integer setting */
      minimum?: number;
      /** Greatest value of an integer setting */
      maximum?: number;
    }>;
    /** Where a version’s format detail is in the version detail (`GET …/versions/{version}`); absent when the format has none */
    versionDetail?: {
      /** The version detail’s field */
      field: string;
      /** What it holds */
      description: string;
    };
    /** The command that fetches one version, with `<root>`, `<registry>`, `<artifact>` and `<tag>` or `<digest>` to fill in; absent when the type has none */
    pull?: {
      /** By tag */
      byTag: string;
      /** By manifest digest */
      byDigest: string;
    };
  }>;
};

export type Artifact = {
  /** Artifact name inside the registry (`team/app`) */
  name: string;
  /** Versions (manifests; for a package format, versions with files) */
  versionCount: number;
  /** The most recently updated tag; for a package format, the version tagged `latest`, else the newest version */
  latestVersion: string | null;
  /** Bytes of its distinct blobs and manifests; for a package format, the sum of the files of its versions */
  sizeBytes: number;
  /** Downloads of all its versions (OCI; 0 for a package format) */
  downloadCount: number;
  /** Latest push or tag change */
  updatedAt: string;
  /** Fetched through an upstream proxy */
  cached: boolean;
};

export type ArtifactList = {
  items: Artifact[];
  /** Items matching the query, on all pages */
  total: number;
  /** This page (from 1) */
  page: number;
  /** Page size asked for */
  size: number;
};

export type Version = {
  /** Manifest digest; for a package version, the digest of its first file by path (empty when it has none) */
  digest: string;
  /** Tags pointing at this version, sorted (for a package format, its tags such as npm dist-tags) */
  tags: string[];
  /** Manifest media type; empty for a package version */
  mediaType: string;
  /** Artifact type (or the config media type of an image); null for a package version */
  artifactType: string | null;
  /** The manifest plus everything it references, in bytes; for a package version, the sum of its files */
  size: number;
  /** The manifest document alone, in bytes; 0 for a package version */
  manifestSize: number;
  /** Push time */
  createdAt: string;
  /** Downloads (OCI; 0 for a package version) */
  downloadCount: number;
  /** Package versions only: the version string, which `{version}` in the version URLs takes */
  version?: string;
  /** Package versions only: its files, by path */
  files?: Array<{
    /** The file’s name or path inside the version */
    path: string;
    /** sha256 digest of the file */
    digest: string;
    /** Size in bytes */
    size: number;
  }>;
};

export type VersionList = {
  items: Version[];
  /** Items matching the query, on all pages */
  total: number;
  /** This page (from 1) */
  page: number;
  /** Page size asked for */
  size: number;
};

export type VersionDetail = {
  /** Manifest digest; for a package version, the digest of its first file by path (empty when it has none) */
  digest: string;
  /** Tags pointing at this version, sorted (for a package format, its tags such as npm dist-tags) */
  tags: string[];
  /** Manifest media type; empty for a package version */
  mediaType: string;
  /** Artifact type (or the config media type of an image); null for a package version */
  artifactType: string | null;
  /** The manifest plus everything it references, in bytes; for a package version, the sum of its files */
  size: number;
  /** The manifest document alone, in bytes; 0 for a package version */
  manifestSize: number;
  /** Push time */
  createdAt: string;
  /** Downloads (OCI; 0 for a package version) */
  downloadCount: number;
  /** Package versions only: the version string, which `{version}` in the version URLs takes */
  version?: string;
  /** Package versions only: its files, by path */
  files?: Array<{
    /** The file’s name or path inside the version */
    path: string;
    /** sha256 digest of the file */
    digest: string;
    /** Size in bytes */
    size: number;
  }>;
  /** Artifact name */
  name: string;
  annotations: Record<string, string> | null;
  /** Digest of the manifest this one refers to */
  subject: string | null;
  /** The manifest document as pushed; null for a package version */
  manifest: Record<string, unknown> | null;
  config: {
    /** Media type */
    mediaType: string;
    /** Digest */
    digest: string;
    /** Size in bytes */
    size: number;
    /** Artifact type */
    artifactType?: string;
    annotations?: Record<string, string>;
  } | null;
  /** Layers of an image, in order; empty for an index */
  layers: Array<{
    /** Media type */
    mediaType: string;
    /** Digest */
    digest: string;
    /** Size in bytes */
    size: number;
    /** Artifact type */
    artifactType?: string;
    annotations?: Record<string, string>;
  }>;
  /** Children of an index with their platforms */
  platforms: Array<{
    /** Media type */
    mediaType: string;
    /** Digest */
    digest: string;
    /** Size in bytes */
    size: number;
    /** Artifact type */
    artifactType?: string;
    annotations?: Record<string, string>;
    platform: {
      /** CPU architecture */
      architecture: string;
      /** Operating system */
      os: string;
      /** CPU variant */
      variant?: string;
      /** OS version */
      "os.version"?: string;
    } | null;
  }> | null;
  [key: string]: unknown;
};

export type User = {
  /** Lowercase letters, digits, ".", "_", "-"; starts with a letter or digit; at most 128 characters */
  username: string;
  /** Email address */
  email: string;
  /** Global administrator */
  admin: boolean;
  /** Disabled */
  disabled: boolean;
  /** Creation time */
  createdAt: string;
  /** Last change */
  updatedAt: string;
  /** Last login (UI or token service with a password) */
  lastLoginAt: string | null;
};

export type UserList = {
  items: User[];
  /** Items matching the query, on all pages */
  total: number;
  /** This page (from 1) */
  page: number;
  /** Page size asked for */
  size: number;
};

export type TokenCreated = {
  /** Token id (for revocation) */
  id: string;
  /** Name */
  name: string;
  /** `read` (pull), `write` (push), `delete` (delete versions), `admin` (management, token creation) */
  scopes: Array<"read" | "write" | "delete" | "admin">;
  /** Space the token is limited to */
  space: string | null;
  /** Registry the token is limited to */
  registry: string | null;
  /** Creation time */
  createdAt: string;
  /** Expiry */
  expiresAt: string | null;
  /** Last use (recorded every few seconds) */
  lastUsedAt: string | null;
  /** The token: shown only in this response. Use it as a password or as `Authorization: Bearer` */
  token: string;
};

export type TokenList = {
  items: Array<{
    /** Token id (for revocation) */
    id: string;
    /** Name */
    name: string;
    /** `read` (pull), `write` (push), `delete` (delete versions), `admin` (management, token creation) */
    scopes: Array<"read" | "write" | "delete" | "admin">;
    /** Space the token is limited to */
    space: string | null;
    /** Registry the token is limited to */
    registry: string | null;
    /** Creation time */
    createdAt: string;
    /** Expiry */
    expiresAt: string | null;
    /** Last use (recorded every few seconds) */
    lastUsedAt: string | null;
  }>;
};

export type Member = {
  /** Space path */
  space: string;
  /** Lowercase letters, digits, ".", "_", "-"; starts with a letter or digit; at most 128 characters */
  username: string;
  /** reader (pull, browse), writer (+ push, delete versions), admin (+ manage registries, proxies, members), owner (+ delete the space) */
  role: "reader" | "writer" | "admin" | "owner";
  /** Added */
  createdAt: string;
  /** Last role change */
  updatedAt: string;
};

export type MemberList = {
  items: Array<{
    /** Space path */
    space: string;
    /** Lowercase letters, digits, ".", "_", "-"; starts with a letter or digit; at most 128 characters */
    username: string;
    /** reader (pull, browse), writer (+ push, delete versions), admin (+ manage registries, proxies, members), owner (+ delete the space) */
    role: "reader" | "writer" | "admin" | "owner";
    /** Added */
    createdAt: string;
    /** Last role change */
    updatedAt: string;
  }>;
};

export type Login = {
  user: {
    /** Lowercase letters, digits, ".", "_", "-"; starts with a letter or digit; at most 128 characters */
    username: string;
    /** Email address */
    email: string;
    /** Global administrator */
    admin: boolean;
    /** Disabled */
    disabled: boolean;
    /** Creation time */
    createdAt: string;
    /** Last change */
    updatedAt: string;
    /** Last login (UI or token service with a password) */
    lastLoginAt: string | null;
  };
  /** Send in X-CSRF-Token on every state-changing request of this session (also in the pallet_csrf cookie) */
  csrfToken: string;
  /** When the session ends */
  expiresAt: string;
};

export type Me = {
  user: {
    /** Lowercase letters, digits, ".", "_", "-"; starts with a letter or digit; at most 128 characters */
    username: string;
    /** Email address */
    email: string;
    /** Global administrator */
    admin: boolean;
    /** Disabled */
    disabled: boolean;
    /** Creation time */
    createdAt: string;
    /** Last change */
    updatedAt: string;
    /** Last login (UI or token service with a password) */
    lastLoginAt: string | null;
  };
  /** How this request authenticated */
  authenticatedBy: "password" | "token" | "session";
  /** The access token used, if any */
  token?: {
    /** Token id (for revocation) */
    id: string;
    /** Name */
    name: string;
    /** `read` (pull), `write` (push), `delete` (delete versions), `admin` (management, token creation) */
    scopes: Array<"read" | "write" | "delete" | "admin">;
    /** Space the token is limited to */
    space: string | null;
    /** Registry the token is limited to */
    registry: string | null;
    /** Creation time */
    createdAt: string;
    /** Expiry */
    expiresAt: string | null;
    /** Last use (recorded every few seconds) */
    lastUsedAt: string | null;
  } | null;
};

export type AuditList = {
  items: Array<{
    /** Event id */
    id: string;
    /** When */
    at: string;
    /** Who (a username; for a failed login, the name tried); null for anonymous */
    actor: string | null;
    /** What: `space.create`, `registry.delete`, `auth.failure`, … */
    action: string;
    /** On what */
    target: string;
    /** success or failure */
    outcome: "success" | "failure";
    /** Client address */
    address: string;
    /** Context (never a secret) */
    details: Record<string, unknown>;
    /** How many times it happened: a failure repeated within a minute shares one row */
    count: number;
    /** When it last happened */
    lastAt: string;
  }>;
  /** Items matching the query, on all pages */
  total: number;
  /** This page (from 1) */
  page: number;
  /** Page size asked for */
  size: number;
};

/** The body of createSpace: Create a space. */
export type CreateSpaceBody = {
  /** `acme` or `acme/payments`; every segment follows the name rule ^[a-z][a-z0-9._-]*$ (at most 255 characters) */
  path: string;
  /** Free text, at most 4096 characters */
  description?: string;
};

/** The body of updateSpace: Change a space’s description. */
export type UpdateSpaceBody = {
  /** Free text, at most 4096 characters */
  description?: string;
  /** Quota in bytes; null removes it (scale-out: pushes over it get DENIED) */
  quotaBytes?: number | null;
};

/** The body of createRegistry: Create a local registry or an upstream proxy. */
export type CreateRegistryBody = {
  /** The space that holds the registry (`acme` or `acme/payments`) */
  space: string;
  /** Name, unique in the root space; rule ^[a-z][a-z0-9._-]*$, at most 255 characters */
  identifier: string;
  /** Package type, fixed at creation: one of `GET /package-types` */
  packageType: string;
  /** `local` (hosted) or `upstream` (a proxy), fixed at creation */
  kind?: "local" | "upstream";
  /** Free text, at most 4096 characters */
  description?: string;
  /** Labels: non-empty, at most 64 characters each; duplicates are dropped */
  labels?: string[];
  /** Allow anonymous pulls (default false) */
  public?: boolean;
  /** Ordered upstream proxy identifiers (same root space, kind upstream, same package type), tried top to bottom */
  upstreams?: string[];
  upstream?: {
    /** Upstream source: one of the package type’s `sources` (`GET /package-types`). A source with a `defaultUrl` fixes the URL; `custom` takes `url`. Omitted: the type’s `defaultSource` */
    source?: string;
    /** Remote URL, with a scheme of the package type’s `urlSchemes`. Its host must be a public address (or resolve only to public addresses) unless the operator allow-lists the network in `upstream.allowedNetworks`; 400 otherwise */
    url?: string;
    auth?: {
      /** Authentication against the upstream */
      type: "anonymous" | "basic";
      /** Username (basic) */
      username?: string;
      /** Password or access token (basic); write-only, never returned. On PATCH, omit it to keep the stored one — unless the PATCH moves `url` to another origin (scheme, host or port): then the stored credentials are dropped and must be given again */
      password?: string;
    };
    /** How long a cached tag or index is served before revalidation */
    tagTtlSeconds?: number;
  } | null;
  /** The format’s per-registry settings: keys and types from the package type’s `settings` (`GET /package-types`); a key left out reads as its default. Unknown keys, wrong types, values outside `enum`, `minimum`, `maximum`: 400 INVALID_ARGUMENT naming `settings.<key>` */
  settings?: Record<string, unknown>;
};

/** The body of updateRegistry: Change a registry’s configuration. */
export type UpdateRegistryBody = {
  /** Free text, at most 4096 characters */
  description?: string;
  /** Labels: non-empty, at most 64 characters each; duplicates are dropped */
  labels?: string[];
  /** Allow anonymous pulls */
  public?: boolean;
  /** Replaces the ordered upstream list (local registries only) */
  upstreams?: string[];
  /** Changes the proxy config (upstream proxies only); omitted fields keep their values, except that a new `url` origin (scheme, host or port) drops the stored credentials unless `auth` is given again with its password */
  upstream?: {
    /** Upstream source: one of the package type’s `sources` (`GET /package-types`). A source with a `defaultUrl` fixes the URL; `custom` takes `url`. Omitted: the type’s `defaultSource` */
    source?: string;
    /** Remote URL, with a scheme of the package type’s `urlSchemes`. Its host must be a public address (or resolve only to public addresses) unless the operator allow-lists the network in `upstream.allowedNetworks`; 400 otherwise */
    url?: string;
    auth?: {
      /** Authentication against the upstream */
      type: "anonymous" | "basic";
      /** Username (basic) */
      username?: string;
      /** Password or access token (basic); write-only, never returned. On PATCH, omit it to keep the stored one — unless the PATCH moves `url` to another origin (scheme, host or port): then the stored credentials are dropped and must be given again */
      password?: string;
    };
    /** How long a cached tag or index is served before revalidation; omitted: unchanged */
    tagTtlSeconds?: number;
  };
  /** Fixed at creation: any other value than the current one is rejected */
  identifier?: string;
  /** Fixed at creation: any other value than the current one is rejected */
  packageType?: string;
  /** Fixed at creation: any other value than the current one is rejected */
  kind?: string;
  /** Fixed at creation: any other value than the current one is rejected */
  space?: string;
  /** Quota in bytes; null removes it (scale-out: pushes over it get DENIED) */
  quotaBytes?: number | null;
  /** Cleanup policy: at least one of keepLastVersions and deleteUntaggedOlderThanDays; null on PATCH removes it */
  cleanupPolicy?: {
    /** Run on the schedule (default true); on-demand runs ignore it */
    enabled?: boolean;
    /** Keep the N most recently pushed versions of each artifact */
    keepLastVersions?: number;
    /** Delete untagged versions pushed more than D days ago */
    deleteUntaggedOlderThanDays?: number;
    /** Only artifacts matching one of these globs (*, **, ?) */
    include?: string[];
    /** Never artifacts matching one of these globs */
    exclude?: string[];
  } | null;
  /** Format settings to change, merged into the stored ones (keys left out keep their values; `null` puts a key back to its default); checked as on creation */
  settings?: Record<string, unknown>;
};

/** The body of createUser: Create a user. */
export type CreateUserBody = {
  /** Lowercase letters, digits, ".", "_", "-"; starts with a letter or digit; at most 128 characters */
  username: string;
  /** Password, 8 to 1024 characters; write-only */
  password: string;
  /** Email address (or empty) */
  email?: string;
  /** A global administrator (default false) */
  admin?: boolean;
};

/** The body of updateUser: Change a user. */
export type UpdateUserBody = {
  /** Password, 8 to 1024 characters; write-only */
  password?: string;
  /** The current password: required to change your own password (not for an administrator resetting another user's); write-only */
  currentPassword?: string;
  /** Email address (or empty) */
  email?: string;
  /** Global administrator (administrators only) */
  admin?: boolean;
  /** A disabled user cannot log in and its tokens stop working (administrators only) */
  disabled?: boolean;
};

/** The body of createToken: Create an access token. */
export type CreateTokenBody = {
  /** A name to recognise the token by */
  name: string;
  /** Lifetime in days (default from auth.tokenDefaultDays) */
  expiresInDays?: number;
  /** `read` (pull), `write` (push), `delete` (delete versions), `admin` (management, token creation) (default ["read"]) */
  scopes?: Array<"read" | "write" | "delete" | "admin">;
  /** Limit the token to this space and its projects (path) */
  space?: string;
  /** Limit the token to this registry (`root/identifier`) */
  registry?: string;
};

/** The body of setMember: Give a user a role on a space. */
export type SetMemberBody = {
  /** reader (pull, browse), writer (+ push, delete versions), admin (+ manage registries, proxies, members), owner (+ delete the space) */
  role: "reader" | "writer" | "admin" | "owner";
};

/** The body of login: Log in (UI). */
export type LoginBody = {
  /** Username */
  username: string;
  /** Password (not an access token) */
  password: string;
};
