/**
 * The OpenAPI 3.1 document of the management API, served at `/api/v1/openapi.json`. Paths and
 * operations are written out here by hand; their schemas are the very objects the routes
 * validate and serialize with (`schemas.ts`). `plugin.ts` refuses to start when a route of the
 * API is missing from this document.
 *
 * The document is built per API instance (`openApiDocument(formatEnums(types))`): the package
 * types and upstream sources it lists are those of the formats that instance serves. Built
 * without them it is the format-independent document the UI's types are generated from
 * (`scripts/gen-api-types.ts`).
 */
import { cleanupQuery, cleanupReportSchema } from './cleanup-schemas.js';
import {
  artifactSchema,
  artifactsQuery,
  errorSchema,
  listSchema,
  packageTypeListSchema,
  packageTypeSchema,
  registrySchemas,
  spaceCreateBody,
  spacePatchBody,
  spaceSchema,
  spacesQuery,
  versionDetailSchema,
  versionSchema,
  versionsQuery,
  type FormatEnums,
  type Schema,
} from './schemas.js';
import {
  auditQuery,
  auditSchema,
  loginBody,
  loginSchema,
  memberListSchema,
  memberPutBody,
  memberSchema,
  meSchema,
  tokenCreateBody,
  tokenCreatedSchema,
  tokenListSchema,
  userCreateBody,
  userPatchBody,
  userSchema,
  usersQuery,
} from './identity-schemas.js';

type Json = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

const PATH_PARAMS: Record<string, Json> = {
  path: { description: 'Space path; a nested one URL-encoded as one segment (`acme%2Fpayments`)', example: 'acme' },
  root: { description: 'Root space of the registry', example: 'acme' },
  identifier: { description: 'Registry identifier', example: 'images' },
  name: { description: 'Artifact name; slashes URL-encoded (`team%2Fapp`)', example: 'team%2Fapp' },
  version: { description: 'A manifest digest (`sha256:…`) or a tag', example: 'latest' },
  username: { description: 'Username', example: 'alice' },
  id: { description: 'Access token id', example: '3f1c…' },
};

function pathParams(names: string[]): Json[] {
  return names.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' }, ...PATH_PARAMS[name] }));
}

/** Query parameters from a querystring schema. */
function queryParams(query: Schema): Json[] {
  const properties = query.properties as Record<string, Schema>;
  return Object.entries(properties).map(([name, schema]) => {
    const { description, ...rest } = schema;
    return { name, in: 'query', required: false, description, schema: rest };
  });
}

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid input (`INVALID_ARGUMENT`, `INVALID_NAME`), including malformed JSON and unknown fields',
  404: 'Not found (`NOT_FOUND`)',
  409: 'Conflict (`ALREADY_EXISTS`, `CONFLICT`)',
  415: 'The body is not JSON (`UNSUPPORTED_MEDIA_TYPE`)',
  401: 'Authentication required or failed (`UNAUTHORIZED`)',
  403: 'Not allowed (`FORBIDDEN`), including a missing CSRF token on a session request',
  429: 'Too many failed logins (`TOO_MANY_REQUESTS`)',
};

interface Operation {
  summary: string;
  operationId: string;
  tag: string;
  description?: string;
  params?: string[];
  query?: Schema;
  body?: Schema;
  ok: { status: number; description: string; schema?: Schema };
  errors: number[];
  /** No authentication involved: no 401/403 answers. */
  open?: boolean;
  /** Any caller, anonymous included; given credentials must still be valid (401 otherwise). */
  anonymous?: boolean;
}

function op(o: Operation): Json {
  const parameters = [...pathParams(o.params ?? []), ...(o.query ? queryParams(o.query) : [])];
  const responses: Json = {
    [o.ok.status]: {
      description: o.ok.description,
      ...(o.ok.schema ? { content: { 'application/json': { schema: o.ok.schema } } } : {}),
    },
  };
  for (const status of [...o.errors, ...(o.open ? [] : o.anonymous ? [401] : [401, 403])]) {
    responses[status] = { description: ERROR_TEXT[status], content: { 'application/json': { schema: ref('Error') } } };
  }
  return {
    tags: [o.tag],
    summary: o.summary,
    operationId: o.operationId,
    ...(o.description ? { description: o.description } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(o.body ? { requestBody: { required: true, content: { 'application/json': { schema: o.body } } } } : {}),
    ...(o.anonymous ? { security: [{}, ...SECURITY] } : {}),
    responses,
  };
}

const REGISTRY = ['root', 'identifier'];
const ARTIFACT = [...REGISTRY, 'name'];
const VERSION = [...ARTIFACT, 'version'];

/** Any one of these; routes that allow anonymous callers say so (`security` with `{}`, or in their text). */
const SECURITY = [{ basic: [] }, { bearer: [] }, { session: [] }];

/**
 * The document for a process serving the formats of `enums` (see the header). One literal, an
 * entry per operation: long as a table is, not as logic.
 */
export function openApiDocument(enums?: FormatEnums): Json {
  const registry = registrySchemas(enums);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Pallet management API',
      version: '1',
      description:
        'Spaces, registries (local registries and upstream proxies) and artifacts of a Pallet registry. ' +
        'Errors are `{"code","message","details"}`; lists are `{"items","total","page","size"}` with ' +
        '`?page=&size=&sort=&order=&q=`. OCI clients use `/v2/<root>/<registry>/<image>` instead. ' +
        'Authenticate with `Authorization: Bearer <access token>`, HTTP basic (`user:password` or `user:<access token>`), ' +
        'or the UI session cookie from `POST /auth/login` (then send `X-CSRF-Token` on state-changing requests).',
    },
    servers: [{ url: '/api/v1' }],
    tags: [
      { name: 'spaces', description: 'Organizations and their projects' },
      { name: 'registries', description: 'Local registries and upstream proxies' },
      { name: 'artifacts', description: 'Artifacts, versions and tags of a registry' },
      { name: 'users', description: 'Local users (administrators)' },
      { name: 'tokens', description: 'The caller’s access tokens' },
      { name: 'members', description: 'Roles of users on spaces' },
      { name: 'auth', description: 'UI login sessions' },
      { name: 'audit', description: 'Who did what and when (administrators)' },
      { name: 'package-types', description: 'The package formats this server serves' },
      { name: 'meta', description: 'This document' },
    ],
    paths: {
      '/openapi.json': {
        get: op({ tag: 'meta', summary: 'This OpenAPI document', operationId: 'getOpenApi', ok: { status: 200, description: 'The document', schema: { type: 'object' } }, errors: [], open: true }),
      },
      '/package-types': {
        get: op({
          tag: 'package-types',
          summary: 'The package types this server serves',
          description:
            'Everything a client needs to offer a format without naming it: label, icon name, upstream sources with their defaults and URL rules, and its Setup Client steps. ' +
            'Open to anonymous callers: it describes the server, not its content.',
          operationId: 'listPackageTypes',
          ok: { status: 200, description: 'The package types, in registration order', schema: ref('PackageTypeList') },
          errors: [],
          anonymous: true,
        }),
      },
      '/spaces': {
        post: op({
          tag: 'spaces',
          summary: 'Create a space',
          description: 'A root space (`acme`) or a project inside an existing one (`acme/payments`).',
          operationId: 'createSpace',
          body: spaceCreateBody,
          ok: { status: 201, description: 'The space', schema: ref('Space') },
          errors: [400, 404, 409, 415],
        }),
        get: op({
          tag: 'spaces',
          summary: 'List spaces',
          operationId: 'listSpaces',
          query: spacesQuery,
          ok: { status: 200, description: 'A page of spaces', schema: ref('SpaceList') },
          errors: [400],
        }),
      },
      '/spaces/{path}': {
        get: op({ tag: 'spaces', summary: 'Get a space', operationId: 'getSpace', params: ['path'], ok: { status: 200, description: 'The space', schema: ref('Space') }, errors: [404] }),
        patch: op({
          tag: 'spaces',
          summary: 'Change a space’s description',
          operationId: 'updateSpace',
          params: ['path'],
          body: spacePatchBody,
          ok: { status: 200, description: 'The space', schema: ref('Space') },
          errors: [400, 404, 415],
        }),
        delete: op({
          tag: 'spaces',
          summary: 'Delete an empty space',
          description: '409 while it still holds registries or child spaces.',
          operationId: 'deleteSpace',
          params: ['path'],
          ok: { status: 204, description: 'Deleted' },
          errors: [404, 409],
        }),
      },
      '/registries': {
        post: op({
          tag: 'registries',
          summary: 'Create a local registry or an upstream proxy',
          description:
            'Kind `local` may list upstream proxies (`upstreams`, ordered); kind `upstream` needs an `upstream` config. ' +
            'The upstream password is write-only.',
          operationId: 'createRegistry',
          body: registry.createBody,
          ok: { status: 201, description: 'The registry', schema: ref('Registry') },
          errors: [400, 404, 409, 415],
        }),
        get: op({
          tag: 'registries',
          summary: 'List registries with stats',
          operationId: 'listRegistries',
          query: registry.query,
          ok: { status: 200, description: 'A page of registries', schema: ref('RegistryList') },
          errors: [400, 404],
        }),
      },
      '/registries/{root}/{identifier}': {
        get: op({ tag: 'registries', summary: 'Get a registry with stats', operationId: 'getRegistry', params: REGISTRY, ok: { status: 200, description: 'The registry', schema: ref('Registry') }, errors: [404] }),
        patch: op({
          tag: 'registries',
          summary: 'Change a registry’s configuration',
          description: 'Description, labels, public, the ordered upstream list, or the proxy config. identifier, packageType, kind and space are fixed (400).',
          operationId: 'updateRegistry',
          params: REGISTRY,
          body: registry.patchBody,
          ok: { status: 200, description: 'The registry', schema: ref('Registry') },
          errors: [400, 404, 415],
        }),
        delete: op({
          tag: 'registries',
          summary: 'Delete a registry and its artifacts',
          description: 'Storage no other registry uses is reclaimed. 409 for an upstream proxy still listed by a registry (`details.usedBy`).',
          operationId: 'deleteRegistry',
          params: REGISTRY,
          ok: { status: 204, description: 'Deleted' },
          errors: [404, 409],
        }),
      },
      '/registries/{root}/{identifier}/setup': {
        get: op({
          tag: 'registries',
          summary: 'Setup Client commands',
          description: 'Log in, push and pull commands for the registry’s package type, with host and names filled in.',
          operationId: 'getRegistrySetup',
          params: REGISTRY,
          ok: { status: 200, description: 'The steps', schema: ref('Setup') },
          errors: [404],
        }),
      },
      '/registries/{root}/{identifier}/cleanup': {
        post: op({
          tag: 'registries',
          summary: 'Run the cleanup policy',
          description:
            'Runs the registry’s cleanup policy now (set it with PATCH `cleanupPolicy`), or with `dryRun=true` reports what it would delete. Deleted versions’ bytes are reclaimed by the next GC run past its grace period. 404 when the registry has no policy.',
          operationId: 'runRegistryCleanup',
          params: REGISTRY,
          query: cleanupQuery,
          ok: { status: 200, description: 'What was (or would be) deleted', schema: cleanupReportSchema },
          errors: [400, 404],
        }),
      },
      '/registries/{root}/{identifier}/artifacts': {
        get: op({
          tag: 'artifacts',
          summary: 'List artifacts',
          operationId: 'listArtifacts',
          params: REGISTRY,
          query: artifactsQuery,
          ok: { status: 200, description: 'A page of artifacts', schema: ref('ArtifactList') },
          errors: [400, 404],
        }),
      },
      '/registries/{root}/{identifier}/artifacts/{name}': {
        get: op({ tag: 'artifacts', summary: 'Get an artifact', operationId: 'getArtifact', params: ARTIFACT, ok: { status: 200, description: 'The artifact', schema: ref('Artifact') }, errors: [404] }),
        delete: op({
          tag: 'artifacts',
          summary: 'Delete an artifact with all its versions',
          description: 'For a format not served over OCI the format deletes it (its package files go, and their bytes to GC); 409 when the format manages no deletions. Only the registry’s own artifacts: a local registry’s cached view of its upstream proxies is read-only (404).',
          operationId: 'deleteArtifact',
          params: ARTIFACT,
          ok: { status: 204, description: 'Deleted' },
          errors: [404, 409],
        }),
      },
      '/registries/{root}/{identifier}/artifacts/{name}/versions': {
        get: op({
          tag: 'artifacts',
          summary: 'List versions of an artifact',
          operationId: 'listVersions',
          params: ARTIFACT,
          query: versionsQuery,
          ok: { status: 200, description: 'A page of versions, newest first by default', schema: ref('VersionList') },
          errors: [400, 404],
        }),
      },
      '/registries/{root}/{identifier}/artifacts/{name}/versions/{version}': {
        get: op({
          tag: 'artifacts',
          summary: 'Get a version',
          description: 'The manifest, its config and layers, the platforms of an index, and format metadata where the format has some. For a format not served over OCI, `{version}` is the version string: the detail has `version`, `files` and the format’s detail under its `versionDetail.field` (`GET /package-types`); the OCI-only fields are empty (see the Version schema).',
          operationId: 'getVersion',
          params: VERSION,
          ok: { status: 200, description: 'The version', schema: ref('VersionDetail') },
          errors: [400, 404],
        }),
        delete: op({
          tag: 'artifacts',
          summary: 'Delete a version',
          description: 'By digest or by tag: the manifest and every tag pointing at it. For a format not served over OCI, by version string, through the format (409 when it manages no deletions).',
          operationId: 'deleteVersion',
          params: VERSION,
          ok: { status: 204, description: 'Deleted' },
          errors: [400, 404, 409],
        }),
      },
      '/users': {
        post: op({ tag: 'users', summary: 'Create a user', operationId: 'createUser', body: userCreateBody, ok: { status: 201, description: 'The user', schema: ref('User') }, errors: [400, 409, 415] }),
        get: op({ tag: 'users', summary: 'List users', operationId: 'listUsers', query: usersQuery, ok: { status: 200, description: 'A page of users', schema: ref('UserList') }, errors: [400] }),
      },
      '/users/{username}': {
        get: op({ tag: 'users', summary: 'Get a user (administrators, or the user itself)', operationId: 'getUser', params: ['username'], ok: { status: 200, description: 'The user', schema: ref('User') }, errors: [404] }),
        patch: op({
          tag: 'users',
          summary: 'Change a user',
          description: 'A user may change its own password (with `currentPassword`: 400 when missing, 403 when wrong) and email, not through a token limited to a space or registry; admin and disabled are for administrators, who reset other users’ passwords without `currentPassword`. The last enabled administrator cannot be demoted or disabled (409). A password change or a disable ends the user’s sessions.',
          operationId: 'updateUser',
          params: ['username'],
          body: userPatchBody,
          ok: { status: 200, description: 'The user', schema: ref('User') },
          errors: [400, 404, 409, 415],
        }),
        delete: op({ tag: 'users', summary: 'Delete a user with its tokens and memberships', operationId: 'deleteUser', params: ['username'], ok: { status: 204, description: 'Deleted' }, errors: [404, 409] }),
      },
      '/user/tokens': {
        post: op({
          tag: 'tokens',
          summary: 'Create an access token',
          description: 'The token is in this response only. Needs a password, a session or a token with the admin scope. Created through a token, the new token never exceeds it: scopes within its scopes, limited to its space (or inside it) or its registry, expiring no later (403 otherwise; an omitted expiry is shortened to the creator’s).',
          operationId: 'createToken',
          body: tokenCreateBody,
          ok: { status: 201, description: 'The token, shown once', schema: ref('TokenCreated') },
          errors: [400, 404, 415],
        }),
        get: op({ tag: 'tokens', summary: 'List the caller’s access tokens (never their values)', operationId: 'listTokens', ok: { status: 200, description: 'The tokens', schema: ref('TokenList') }, errors: [] }),
      },
      '/user/tokens/{id}': {
        delete: op({ tag: 'tokens', summary: 'Revoke an access token (through a limited token: only tokens within its limits)', operationId: 'revokeToken', params: ['id'], ok: { status: 204, description: 'Revoked' }, errors: [404] }),
      },
      '/spaces/{path}/members': {
        get: op({ tag: 'members', summary: 'List the members of a space', operationId: 'listMembers', params: ['path'], ok: { status: 200, description: 'The members', schema: ref('MemberList') }, errors: [404] }),
      },
      '/spaces/{path}/members/{username}': {
        put: op({
          tag: 'members',
          summary: 'Give a user a role on a space',
          description: 'Space admins set roles up to admin; making or changing an owner needs the owner role.',
          operationId: 'setMember',
          params: ['path', 'username'],
          body: memberPutBody,
          ok: { status: 200, description: 'The membership', schema: ref('Member') },
          errors: [400, 404, 415],
        }),
        delete: op({ tag: 'members', summary: 'Remove a user’s role on a space', operationId: 'removeMember', params: ['path', 'username'], ok: { status: 204, description: 'Removed' }, errors: [404] }),
      },
      '/auth/login': {
        post: op({
          tag: 'auth',
          summary: 'Log in (UI)',
          description: 'Sets the httpOnly session cookie `pallet_session` and the `pallet_csrf` cookie. State-changing requests of the session must send the CSRF token in `X-CSRF-Token`. 429 after too many failures.',
          operationId: 'login',
          body: loginBody,
          ok: { status: 200, description: 'The session', schema: ref('Login') },
          errors: [400, 415, 429],
          open: true,
        }),
      },
      '/auth/logout': {
        post: op({ tag: 'auth', summary: 'Log out (ends the session, clears the cookies)', operationId: 'logout', ok: { status: 204, description: 'Logged out' }, errors: [] }),
      },
      '/auth/me': {
        get: op({ tag: 'auth', summary: 'The current user and how it authenticated', operationId: 'me', ok: { status: 200, description: 'The user', schema: ref('Me') }, errors: [] }),
      },
      '/audit': {
        get: op({ tag: 'audit', summary: 'The audit log, newest first', operationId: 'listAudit', query: auditQuery, ok: { status: 200, description: 'A page of events', schema: ref('AuditList') }, errors: [400] }),
      },
    },
    security: SECURITY,
    components: {
      securitySchemes: {
        basic: { type: 'http', scheme: 'basic', description: 'username and password, or username and an access token' },
        bearer: { type: 'http', scheme: 'bearer', description: 'An access token (`pallet_…`) from POST /user/tokens' },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'pallet_session',
          description: 'UI session from POST /auth/login; state-changing requests also send X-CSRF-Token',
        },
      },
      schemas: {
        Error: errorSchema,
        Space: spaceSchema,
        SpaceList: listSchema(ref('Space')),
        Registry: registry.registry,
        RegistryList: listSchema(ref('Registry')),
        Setup: registry.setup,
        PackageType: packageTypeSchema,
        PackageTypeList: packageTypeListSchema,
        Artifact: artifactSchema,
        ArtifactList: listSchema(ref('Artifact')),
        Version: versionSchema,
        VersionList: listSchema(ref('Version')),
        VersionDetail: versionDetailSchema(enums),
        User: userSchema,
        UserList: listSchema(ref('User')),
        TokenCreated: tokenCreatedSchema,
        TokenList: tokenListSchema,
        Member: memberSchema,
        MemberList: memberListSchema,
        Login: loginSchema,
        Me: meSchema,
        AuditList: listSchema(auditSchema),
      },
    },
  };
}

/** The paths and operations, which do not depend on the formats served. */
const DOCUMENTED_PATHS = openApiDocument().paths as Record<string, Json | undefined>;

/** `/api/v1/spaces/:path` → `/spaces/{path}`: the document's key for a registered route. */
export function documentedPath(url: string, prefix: string): string {
  return url.slice(prefix.length).replace(/:([A-Za-z_]+)/g, '{$1}');
}

/** Whether the document describes `method` on the route `url` (as Fastify registered it). */
export function isDocumented(method: string, url: string, prefix: string): boolean {
  const item = DOCUMENTED_PATHS[documentedPath(url, prefix)];
  return item?.[method.toLowerCase()] !== undefined;
}
