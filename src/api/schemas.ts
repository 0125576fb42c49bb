/**
 * JSON schemas of the management API: request bodies and query strings (validated by Fastify's
 * ajv) and responses (serialized by Fastify, and published in the OpenAPI document). One
 * definition serves validation, serialization and documentation, so they cannot drift apart.
 *
 * Shape checks live here; rules with their own error codes and messages (the name rule, label
 * limits, upstream list checks) live in the domain, which re-checks everything it is given.
 *
 * The registry schemas name the package types and upstream sources of the formats the process
 * serves (`registrySchemas(formatEnums(types))`), so they are built per API instance from its
 * format list; built without that list (the UI's generated types, whose formats come from
 * `GET /package-types` at run time) those fields are plain strings.
 */
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../base/paging.js';
import { REGISTRY_KINDS } from '../registry/registry-fields.js';
import { REGISTRY_SORT_KEYS } from '../registry/registry-views.js';
import { ARTIFACT_SORT_KEYS, VERSION_SORT_KEYS } from '../registry/artifacts.js';
import { SPACE_SORT_KEYS } from '../registry/spaces.js';
import type { PackageTypeSpec } from '../registry/package-types.js';
import { cleanupPolicySchema } from './cleanup-schemas.js';

export type Schema = Record<string, unknown>;

/**
 * A closed object: an unknown property is a 400, not silently ignored. Fastify's ajv runs with
 * `removeAdditional`, which would strip unknown properties under `additionalProperties: false`
 * alone; `propertyNames` is checked before that and fails instead.
 */
export function closed(properties: Record<string, Schema>, required: string[] = []): Schema {
  return {
    type: 'object',
    properties,
    ...(required.length > 0 ? { required } : {}),
    additionalProperties: false,
    propertyNames: { enum: Object.keys(properties) },
  };
}

const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const int = (description: string): Schema => ({ type: 'integer', minimum: 0, description });
const bool = (description: string): Schema => ({ type: 'boolean', description });
const time = (description: string): Schema => ({ type: 'string', format: 'date-time', description });
const nullable = (schema: Schema): Schema => ({ ...schema, type: [schema.type, 'null'] });
const strings = (description: string): Schema => ({ type: 'array', items: { type: 'string' }, description });
const stringMap: Schema = { type: 'object', additionalProperties: { type: 'string' } };
/** Any JSON object, serialized as is. */
const anyObject = (description: string): Schema => ({ type: 'object', additionalProperties: true, description });

// Errors and lists ---------------------------------------------------------------------------

export const errorSchema: Schema = {
  type: 'object',
  required: ['code', 'message', 'details'],
  properties: {
    code: str('Machine-readable error code', {
      enum: ['NOT_FOUND', 'ALREADY_EXISTS', 'CONFLICT', 'INVALID_NAME', 'INVALID_ARGUMENT', 'TOO_LARGE', 'UNAVAILABLE', 'INSUFFICIENT_STORAGE', 'UNAUTHORIZED', 'FORBIDDEN', 'UNSUPPORTED', 'UNSUPPORTED_MEDIA_TYPE', 'TOO_MANY_REQUESTS', 'INTERNAL'],
    }),
    message: str('What went wrong, for people'),
    details: anyObject('Structured context (field, names in use, …)'),
  },
};

export function listSchema(item: Schema): Schema {
  return {
    type: 'object',
    required: ['items', 'total', 'page', 'size'],
    properties: {
      items: { type: 'array', items: item },
      total: int('Items matching the query, on all pages'),
      page: { type: 'integer', minimum: 1, description: 'This page (from 1)' },
      size: { type: 'integer', minimum: 1, description: 'Page size asked for' },
    },
  };
}

/** Query string of a paged list sorted by one of `sortKeys`. */
export function pageQuery(sortKeys: readonly string[], extra: Record<string, Schema> = {}, defaultOrder = 'asc'): Schema {
  return {
    type: 'object',
    properties: {
      page: { type: 'integer', minimum: 1, default: 1, description: 'Page number, from 1' },
      size: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE, description: `Page size, at most ${MAX_PAGE_SIZE}` },
      sort: { type: 'string', enum: [...sortKeys], description: `Sort key (default ${sortKeys[0]})` },
      order: { type: 'string', enum: ['asc', 'desc'], description: `Sort order (default ${defaultOrder})` },
      q: str('Case-insensitive substring filter'),
      ...extra,
    },
  };
}

// Spaces ---------------------------------------------------------------------------------------

const spacePath = str('`acme` or `acme/payments`; every segment follows the name rule ^[a-z][a-z0-9._-]*$ (at most 255 characters)');
const description = str('Free text, at most 4096 characters', { maxLength: 4096 });

export const spaceCreateBody = closed({ path: spacePath, description }, ['path']);
const quotaBytes = nullable(int('Quota in bytes; null removes it (scale-out: pushes over it get DENIED)'));

export const spacePatchBody = closed({ description, quotaBytes });

export const spaceSchema: Schema = {
  type: 'object',
  required: ['path', 'name', 'parent', 'root', 'description', 'createdAt', 'updatedAt'],
  properties: {
    path: spacePath,
    name: str('The last path segment'),
    parent: nullable(str('Path of the parent space; null for a root space')),
    root: str('The root space (first segment)'),
    description: str('Description'),
    createdAt: time('Creation time'),
    updatedAt: time('Last change'),
    quotaBytes: nullable(int('Quota in bytes over its registries and nested spaces; absent when none')),
    usageBytes: int('Bytes its registries and those of nested spaces hold (shown with a quota)'),
  },
};

export const spacesQuery = pageQuery(SPACE_SORT_KEYS);

// Registries -----------------------------------------------------------------------------------

/**
 * The enums that come from the served formats: their package types, and the ids of every
 * upstream source any of them offers. Absent: those fields are open strings.
 */
export interface FormatEnums {
  packageTypes: readonly string[];
  sources: readonly string[];
  /** The formats' version-detail fields (`PackageTypeSpec.versionDetail`). */
  versionDetails: ReadonlyArray<{ field: string; description: string }>;
}

/** The enums of a format list (`PackageTypes.all`), in registration order, sources deduplicated. */
export function formatEnums(types: readonly PackageTypeSpec[]): FormatEnums {
  return {
    packageTypes: types.map((t) => t.type),
    sources: [...new Set(types.flatMap((t) => t.sources.map((s) => s.id)))],
    versionDetails: types.flatMap((t) => (t.versionDetail ? [{ field: t.versionDetail.field, description: t.versionDetail.description }] : [])),
  };
}

const oneOf = (values: readonly string[] | undefined): Schema => (values ? { enum: [...values] } : {});

const kind = str('`local` (hosted) or `upstream` (a proxy), fixed at creation', { enum: [...REGISTRY_KINDS] });
const labels = strings('Labels: non-empty, at most 64 characters each; duplicates are dropped');
const upstreams = strings('Ordered upstream proxy identifiers (same root space, kind upstream, same package type), tried top to bottom');

const authInput = closed(
  {
    type: str('Authentication against the upstream', { enum: ['anonymous', 'basic'] }),
    username: str('Username (basic)'),
    password: str('Password or access token (basic); write-only, never returned. On PATCH, omit it to keep the stored one — unless the PATCH moves `url` to another origin (scheme, host or port): then the stored credentials are dropped and must be given again'),
  },
  ['type'],
);

const ttlDescription = 'How long a cached tag or index is served before revalidation';

/**
 * Format settings in a request: key → boolean, string or integer (`null` in a PATCH: back to
 * the default). The values are left to the domain, which knows each key's type: a typed
 * schema here would let ajv coerce `"true"` into `true`.
 */
const settingsInput = (description: string): Schema => ({
  type: 'object',
  additionalProperties: { description: 'boolean, string or integer, as the setting declares' },
  description,
});

export interface RegistrySchemas {
  createBody: Schema;
  patchBody: Schema;
  registry: Schema;
  query: Schema;
  setup: Schema;
}

/** The registry routes' schemas for a process serving the formats of `enums` (see the header). */
export function registrySchemas(enums?: FormatEnums): RegistrySchemas {
  const packageType = str('Package type, fixed at creation: one of `GET /package-types`', oneOf(enums?.packageTypes));
  const source = str(
    'Upstream source: one of the package type’s `sources` (`GET /package-types`). A source with a `defaultUrl` fixes the URL; `custom` takes `url`. Omitted: the type’s `defaultSource`',
    oneOf(enums?.sources),
  );
  const upstreamFields: Record<string, Schema> = {
    source,
    url: str('Remote URL, with a scheme of the package type’s `urlSchemes`. Its host must be a public address (or resolve only to public addresses) unless the operator allow-lists the network in `upstream.allowedNetworks`; 400 otherwise'),
    auth: authInput,
  };
  const upstreamInput = closed({ ...upstreamFields, tagTtlSeconds: { type: 'integer', minimum: 0, default: 300, description: ttlDescription } });
  // The proxy config of a PATCH: no defaults. ajv fills defaults in, and a field a PATCH leaves
  // out must keep its stored value rather than be reset to the default.
  const upstreamPatch = closed({ ...upstreamFields, tagTtlSeconds: { type: 'integer', minimum: 0, description: `${ttlDescription}; omitted: unchanged` } });

  const createBody = closed(
    {
      space: str('The space that holds the registry (`acme` or `acme/payments`)'),
      identifier: str('Name, unique in the root space; rule ^[a-z][a-z0-9._-]*$, at most 255 characters'),
      packageType,
      kind: { ...kind, default: 'local' },
      description,
      labels,
      public: bool('Allow anonymous pulls (default false)'),
      upstreams,
      upstream: nullable(upstreamInput),
      settings: settingsInput(
        'The format’s per-registry settings: keys and types from the package type’s `settings` (`GET /package-types`); a key left out reads as its default. Unknown keys, wrong types, values outside `enum`, `minimum`, `maximum`: 400 INVALID_ARGUMENT naming `settings.<key>`',
      ),
    },
    ['space', 'identifier', 'packageType'],
  );

  const patchBody = closed({
    description,
    labels,
    public: bool('Allow anonymous pulls'),
    upstreams: { ...upstreams, description: 'Replaces the ordered upstream list (local registries only)' },
    upstream: { ...upstreamPatch, description: 'Changes the proxy config (upstream proxies only); omitted fields keep their values, except that a new `url` origin (scheme, host or port) drops the stored credentials unless `auth` is given again with its password' },
    identifier: str('Fixed at creation: any other value than the current one is rejected'),
    packageType: str('Fixed at creation: any other value than the current one is rejected'),
    kind: str('Fixed at creation: any other value than the current one is rejected'),
    space: str('Fixed at creation: any other value than the current one is rejected'),
    quotaBytes,
    cleanupPolicy: { ...cleanupPolicySchema, type: ['object', 'null'] },
    settings: settingsInput('Format settings to change, merged into the stored ones (keys left out keep their values; `null` puts a key back to its default); checked as on creation'),
  });

  const upstreamView: Schema = {
    type: 'object',
    required: ['source', 'url', 'auth', 'tagTtlSeconds'],
    properties: {
      source: str('Upstream source (one of the package type’s `sources`)', oneOf(enums?.sources)),
      url: str('Remote URL'),
      // No password here: the serializer drops anything not listed, a second guard on the secret.
      auth: {
        type: 'object',
        required: ['type'],
        properties: { type: str('anonymous or basic', { enum: ['anonymous', 'basic'] }), username: str('Username (basic)') },
        additionalProperties: false,
      },
      tagTtlSeconds: int('Tag/index cache TTL in seconds'),
    },
    additionalProperties: false,
  };

  const registry: Schema = {
    type: 'object',
    required: ['space', 'root', 'identifier', 'packageType', 'kind', 'description', 'labels', 'public', 'upstreams', 'upstream', 'url', 'sizeBytes', 'artifactCount', 'downloadCount', 'createdAt', 'updatedAt', 'settings'],
    properties: {
      space: str('The space that holds the registry'),
      root: str('Its root space'),
      identifier: str('Name, unique in the root space'),
      packageType,
      kind,
      description: str('Description'),
      labels: strings('Labels'),
      public: bool('Anonymous pulls allowed'),
      upstreams: strings('Ordered upstream proxy identifiers (empty for proxies)'),
      upstream: nullable(upstreamView),
      url: str('`<baseUrl>/<root>/<identifier>`, where OCI clients find it'),
      sizeBytes: int('Bytes stored'),
      artifactCount: int('Artifacts'),
      downloadCount: int('Downloads of all versions'),
      createdAt: time('Creation time'),
      updatedAt: time('Latest change to its configuration or content'),
      quotaBytes: nullable(int('Quota in bytes (blobs and manifests); absent when none')),
      cleanupPolicy: { ...cleanupPolicySchema, description: 'Cleanup policy; absent when none' },
      settings: {
        type: 'object',
        additionalProperties: { type: ['boolean', 'string', 'number'] },
        description: 'Every setting the format declares (`GET /package-types`), with its value on this registry or else its default; `{}` for a format without settings',
      },
    },
  };

  const query = pageQuery(REGISTRY_SORT_KEYS, {
    space: str('Only registries of this space (path)'),
    recursive: { type: 'boolean', default: false, description: 'With space: include its nested projects' },
    packageType: str('Only this package type', oneOf(enums?.packageTypes)),
    kind: str('Only this kind', { enum: [...REGISTRY_KINDS] }),
  });

  const setup: Schema = { type: 'object', required: ['packageType', 'steps'], properties: { packageType, steps: setupStepsSchema } };

  return { createBody, patchBody, registry, query, setup };
}

const setupStepsSchema: Schema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['title', 'commands'],
    properties: { title: str('Step title'), commands: strings('Shell commands, in order'), note: str('Advice for the step') },
  },
};

// Package types --------------------------------------------------------------------------------

export const packageTypeSchema: Schema = {
  type: 'object',
  required: ['type', 'label', 'description', 'icon', 'ociBased', 'sources', 'urlSchemes', 'urlHint', 'setup', 'settings'],
  properties: {
    type: str('The `packageType` of its registries'),
    label: str('How people call it'),
    description: str('One line for the "new registry" type cards'),
    icon: str('An icon name; a client without that icon shows a generic one'),
    ociBased: bool('Served over `/v2` (OCI distribution)'),
    pkgPath: str('The folder of its own routes under `/pkg/<root>/<registry>/`; absent when it has none'),
    sources: {
      type: 'array',
      description: 'The upstream sources its proxies may use, in the order to offer them',
      items: {
        type: 'object',
        required: ['id', 'label'],
        properties: {
          id: str('The `upstream.source` value'),
          label: str('How people call it'),
          defaultUrl: str('The fixed URL of a well-known public source (its proxies take no `url`); absent for `custom`'),
        },
      },
    },
    defaultSource: str('The source of an upstream config that names none; absent: `source` is required'),
    urlSchemes: strings('URL schemes a custom source may use (`http:`, `https:`, …)'),
    urlHint: str('What a custom URL points at, for forms and messages'),
    setup: {
      ...setupStepsSchema,
      description: 'Setup Client steps of a private local registry of this type, with `<root>` and `<registry>` for its root space and name (`GET /registries/{root}/{identifier}/setup` fills them in)',
    },
    settings: {
      type: 'object',
      description: 'Per-registry settings of the format (set under `settings` on create and PATCH of a registry), by key; `{}` when it has none',
      additionalProperties: {
        type: 'object',
        required: ['type', 'default', 'description'],
        properties: {
          type: str('The value type', { enum: ['boolean', 'string', 'integer'] }),
          default: { type: ['boolean', 'string', 'integer'], description: 'The value of a registry that does not set it' },
          description: str('What it does, for people'),
          enum: strings('The values a string setting takes; absent: any string'),
          minimum: { type: 'integer', description: 'Least value of an integer setting' },
          maximum: { type: 'integer', description: 'Greatest value of an integer setting' },
        },
      },
    },
    versionDetail: {
      type: 'object',
      required: ['field', 'description'],
      description: 'Where a version’s format detail is in the version detail (`GET …/versions/{version}`); absent when the format has none',
      properties: { field: str('The version detail’s field'), description: str('What it holds') },
    },
    pull: {
      type: 'object',
      required: ['byTag', 'byDigest'],
      description: 'The command that fetches one version, with `<root>`, `<registry>`, `<artifact>` and `<tag>` or `<digest>` to fill in; absent when the type has none',
      properties: { byTag: str('By tag'), byDigest: str('By manifest digest') },
    },
  },
};

export const packageTypeListSchema: Schema = {
  type: 'object',
  required: ['items'],
  properties: { items: { type: 'array', items: packageTypeSchema, description: 'The package types this server serves, in registration order' } },
};

// Artifacts ------------------------------------------------------------------------------------

export const artifactSchema: Schema = {
  type: 'object',
  required: ['name', 'versionCount', 'latestVersion', 'sizeBytes', 'downloadCount', 'updatedAt', 'cached'],
  properties: {
    name: str('Artifact name inside the registry (`team/app`)'),
    versionCount: int('Versions (manifests; for a package format, versions with files)'),
    latestVersion: nullable(str('The most recently updated tag; for a package format, the version tagged `latest`, else the newest version')),
    sizeBytes: int('Bytes of its distinct blobs and manifests; for a package format, the sum of the files of its versions'),
    downloadCount: int('Downloads of all its versions (OCI; 0 for a package format)'),
    updatedAt: time('Latest push or tag change'),
    cached: bool('Fetched through an upstream proxy'),
  },
};

const versionProperties: Record<string, Schema> = {
  digest: str('Manifest digest; for a package version, the digest of its first file by path (empty when it has none)'),
  tags: strings('Tags pointing at this version, sorted (for a package format, its tags such as npm dist-tags)'),
  mediaType: str('Manifest media type; empty for a package version'),
  artifactType: nullable(str('Artifact type (or the config media type of an image); null for a package version')),
  size: int('The manifest plus everything it references, in bytes; for a package version, the sum of its files'),
  manifestSize: int('The manifest document alone, in bytes; 0 for a package version'),
  createdAt: time('Push time'),
  downloadCount: int('Downloads (OCI; 0 for a package version)'),
};

const packageFileSchema: Schema = {
  type: 'object',
  required: ['path', 'digest', 'size'],
  properties: { path: str('The file’s name or path inside the version'), digest: str('sha256 digest of the file'), size: int('Size in bytes') },
};

/** Fields of a package version (a format not served over OCI); absent on OCI versions. */
const packageVersionProperties: Record<string, Schema> = {
  version: str('Package versions only: the version string, which `{version}` in the version URLs takes'),
  files: { type: 'array', items: packageFileSchema, description: 'Package versions only: its files, by path' },
};

export const versionSchema: Schema = {
  type: 'object',
  required: Object.keys(versionProperties),
  properties: { ...versionProperties, ...packageVersionProperties },
};

const descriptorSchema: Schema = {
  type: 'object',
  required: ['mediaType', 'digest', 'size'],
  properties: {
    mediaType: str('Media type'),
    digest: str('Digest'),
    size: int('Size in bytes'),
    artifactType: str('Artifact type'),
    annotations: stringMap,
  },
};

const platformSchema: Schema = {
  ...descriptorSchema,
  required: ['mediaType', 'digest', 'size', 'platform'],
  properties: {
    ...(descriptorSchema.properties as Record<string, Schema>),
    platform: nullable({
      type: 'object',
      required: ['architecture', 'os'],
      properties: { architecture: str('CPU architecture'), os: str('Operating system'), variant: str('CPU variant'), 'os.version': str('OS version') },
    }),
  },
};

/**
 * A version's detail, with the version-detail fields of the served formats (`enums`); built
 * without them (the UI's generated types), any further field is an open object.
 */
export function versionDetailSchema(enums?: FormatEnums): Schema {
  const details = enums?.versionDetails ?? [];
  return {
    type: 'object',
    required: [...Object.keys(versionProperties), 'name', 'annotations', 'subject', 'manifest', 'config', 'layers', 'platforms', ...details.map((d) => d.field)],
    properties: {
    ...versionProperties,
    ...packageVersionProperties,
    name: str('Artifact name'),
    annotations: nullable(stringMap),
    subject: nullable(str('Digest of the manifest this one refers to')),
    manifest: nullable(anyObject('The manifest document as pushed; null for a package version')),
    config: nullable(descriptorSchema),
    layers: { type: 'array', items: descriptorSchema, description: 'Layers of an image, in order; empty for an index' },
    platforms: nullable({ type: 'array', items: platformSchema, description: 'Children of an index with their platforms' }),
    ...Object.fromEntries(details.map((d) => [d.field, nullable(anyObject(d.description))])),
    },
    ...(enums ? {} : { additionalProperties: true }),
  };
}

export const artifactsQuery = pageQuery(ARTIFACT_SORT_KEYS);
export const versionsQuery = pageQuery(VERSION_SORT_KEYS, {}, 'desc');
