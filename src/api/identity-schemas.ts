/**
 * JSON schemas of the identity part of the management API (users, access tokens, members,
 * login, audit): validation, serialization and the OpenAPI document, as in `schemas.ts`.
 * Response schemas list every field a client sees: the serializer drops anything else, a
 * second guard that no hash or secret leaves the server.
 */
import { ROLES, TOKEN_SCOPES } from '../auth/roles.js';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../auth/passwords.js';
import { MAX_TOKEN_DAYS } from '../auth/access-tokens.js';
import { USER_SORT_KEYS } from '../auth/users.js';
import { closed, pageQuery, type Schema } from './schemas.js';

const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const bool = (description: string): Schema => ({ type: 'boolean', description });
const time = (description: string): Schema => ({ type: 'string', format: 'date-time', description });
const nullable = (schema: Schema): Schema => ({ ...schema, type: [schema.type, 'null'] });
const strings = (description: string, items: Schema = { type: 'string' }): Schema => ({ type: 'array', items, description });

const username = str('Lowercase letters, digits, ".", "_", "-"; starts with a letter or digit; at most 128 characters');
const password = str(`Password, ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters; write-only`, {
  minLength: MIN_PASSWORD_LENGTH,
  maxLength: MAX_PASSWORD_LENGTH,
});
const email = str('Email address (or empty)', { maxLength: 320 });

// Users ----------------------------------------------------------------------------------------

export const userCreateBody = closed(
  { username, password, email, admin: bool('A global administrator (default false)') },
  ['username', 'password'],
);

export const userPatchBody = closed({
  password,
  currentPassword: str('The current password: required to change your own password (not for an administrator resetting another user\'s); write-only', {
    maxLength: MAX_PASSWORD_LENGTH,
  }),
  email,
  admin: bool('Global administrator (administrators only)'),
  disabled: bool('A disabled user cannot log in and its tokens stop working (administrators only)'),
});

export const userSchema: Schema = {
  type: 'object',
  required: ['username', 'email', 'admin', 'disabled', 'createdAt', 'updatedAt', 'lastLoginAt'],
  properties: {
    username,
    email: str('Email address'),
    admin: bool('Global administrator'),
    disabled: bool('Disabled'),
    createdAt: time('Creation time'),
    updatedAt: time('Last change'),
    lastLoginAt: nullable(time('Last login (UI or token service with a password)')),
  },
  additionalProperties: false,
};

export const usersQuery = pageQuery(USER_SORT_KEYS);

// Access tokens --------------------------------------------------------------------------------

const scopes = strings('`read` (pull), `write` (push), `delete` (delete versions), `admin` (management, token creation)', {
  type: 'string',
  enum: [...TOKEN_SCOPES],
});

export const tokenCreateBody = closed(
  {
    name: str('A name to recognise the token by', { minLength: 1, maxLength: 100 }),
    expiresInDays: { type: 'integer', minimum: 1, maximum: MAX_TOKEN_DAYS, description: 'Lifetime in days (default from auth.tokenDefaultDays)' },
    scopes: { ...scopes, minItems: 1, description: `${String(scopes.description)} (default ["read"])` },
    space: str('Limit the token to this space and its projects (path)'),
    registry: str('Limit the token to this registry (`root/identifier`)'),
  },
  ['name'],
);

const tokenProperties: Record<string, Schema> = {
  id: str('Token id (for revocation)'),
  name: str('Name'),
  scopes,
  space: nullable(str('Space the token is limited to')),
  registry: nullable(str('Registry the token is limited to')),
  createdAt: time('Creation time'),
  expiresAt: nullable(time('Expiry')),
  lastUsedAt: nullable(time('Last use (recorded every few seconds)')),
};

export const tokenSchema: Schema = {
  type: 'object',
  required: Object.keys(tokenProperties),
  properties: tokenProperties,
  additionalProperties: false,
};

export const tokenCreatedSchema: Schema = {
  type: 'object',
  required: [...Object.keys(tokenProperties), 'token'],
  properties: { ...tokenProperties, token: str('The token: shown only in this response. Use it as a password or as `Authorization: Bearer`') },
  additionalProperties: false,
};

export const tokenListSchema: Schema = { type: 'object', required: ['items'], properties: { items: { type: 'array', items: tokenSchema } } };

// Members --------------------------------------------------------------------------------------

const role = str('reader (pull, browse), writer (+ push, delete versions), admin (+ manage registries, proxies, members), owner (+ delete the space)', {
  enum: [...ROLES],
});

export const memberPutBody = closed({ role }, ['role']);

export const memberSchema: Schema = {
  type: 'object',
  required: ['space', 'username', 'role', 'createdAt', 'updatedAt'],
  properties: { space: str('Space path'), username, role, createdAt: time('Added'), updatedAt: time('Last role change') },
  additionalProperties: false,
};

export const memberListSchema: Schema = { type: 'object', required: ['items'], properties: { items: { type: 'array', items: memberSchema } } };

// Login ----------------------------------------------------------------------------------------

export const loginBody = closed({ username: str('Username'), password: str('Password (not an access token)') }, ['username', 'password']);

export const loginSchema: Schema = {
  type: 'object',
  required: ['user', 'csrfToken', 'expiresAt'],
  properties: {
    user: userSchema,
    csrfToken: str('Send in X-CSRF-Token on every state-changing request of this session (also in the pallet_csrf cookie)'),
    expiresAt: time('When the session ends'),
  },
};

export const meSchema: Schema = {
  type: 'object',
  required: ['user', 'authenticatedBy'],
  properties: {
    user: userSchema,
    authenticatedBy: str('How this request authenticated', { enum: ['password', 'token', 'session'] }),
    token: nullable({ ...tokenSchema, description: 'The access token used, if any' }),
  },
};

// Audit ----------------------------------------------------------------------------------------

export const auditSchema: Schema = {
  type: 'object',
  required: ['id', 'at', 'actor', 'action', 'target', 'outcome', 'address', 'details', 'count', 'lastAt'],
  properties: {
    id: str('Event id'),
    at: time('When'),
    actor: nullable(str('Who (a username; for a failed login, the name tried); null for anonymous')),
    action: str('What: `space.create`, `registry.delete`, `auth.failure`, …'),
    target: str('On what'),
    outcome: str('success or failure', { enum: ['success', 'failure'] }),
    address: str('Client address'),
    details: { type: 'object', additionalProperties: true, description: 'Context (never a secret)' },
    count: { type: 'integer', minimum: 1, description: 'How many times it happened: a failure repeated within a minute shares one row' },
    lastAt: time('When it last happened'),
  },
};

export const auditQuery: Schema = {
  type: 'object',
  properties: {
    page: { type: 'integer', minimum: 1, default: 1, description: 'Page number, from 1' },
    size: { type: 'integer', minimum: 1, maximum: 500, default: 50, description: 'Page size, at most 500' },
    actor: str('Only events of this actor'),
    action: str('Only this action'),
    outcome: str('Only this outcome', { enum: ['success', 'failure'] }),
  },
};
