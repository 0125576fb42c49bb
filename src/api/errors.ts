/**
 * The management API's error table and error handler: every domain error code mapped once to
 * the HTTP status and API code a client sees, and Fastify's own errors (schema validation,
 * malformed JSON, body limits) turned into the same `{"code","message","details"}` shape.
 * Handlers never choose a status for an error.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isPalletError, type ErrorCode } from '../base/errors.js';
import { retryAfterSeconds } from '../base/retry.js';

export type ApiErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CONFLICT'
  | 'INVALID_NAME'
  | 'INVALID_ARGUMENT'
  | 'TOO_LARGE'
  | 'UNAVAILABLE'
  | 'INSUFFICIENT_STORAGE'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'UNSUPPORTED'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'TOO_MANY_REQUESTS'
  | 'INTERNAL';

export interface ApiErrorBody {
  code: ApiErrorCode;
  message: string;
  details: Record<string, unknown>;
}

/** Domain code → status and API code. OCI codes appear where the API reaches OCI content. */
export const API_ERRORS: Record<ErrorCode, { status: number; apiCode: ApiErrorCode }> = {
  NOT_FOUND: { status: 404, apiCode: 'NOT_FOUND' },
  ALREADY_EXISTS: { status: 409, apiCode: 'ALREADY_EXISTS' },
  CONFLICT: { status: 409, apiCode: 'CONFLICT' },
  INVALID_NAME: { status: 400, apiCode: 'INVALID_NAME' },
  INVALID_ARGUMENT: { status: 400, apiCode: 'INVALID_ARGUMENT' },
  TOO_LARGE: { status: 413, apiCode: 'TOO_LARGE' },
  UNAVAILABLE: { status: 503, apiCode: 'UNAVAILABLE' },
  INSUFFICIENT_STORAGE: { status: 507, apiCode: 'INSUFFICIENT_STORAGE' },
  BLOB_UNKNOWN: { status: 404, apiCode: 'NOT_FOUND' },
  BLOB_UPLOAD_INVALID: { status: 400, apiCode: 'INVALID_ARGUMENT' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, apiCode: 'NOT_FOUND' },
  DIGEST_INVALID: { status: 400, apiCode: 'INVALID_ARGUMENT' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, apiCode: 'INVALID_ARGUMENT' },
  MANIFEST_INVALID: { status: 400, apiCode: 'INVALID_ARGUMENT' },
  MANIFEST_UNKNOWN: { status: 404, apiCode: 'NOT_FOUND' },
  NAME_INVALID: { status: 400, apiCode: 'INVALID_NAME' },
  NAME_UNKNOWN: { status: 404, apiCode: 'NOT_FOUND' },
  SIZE_INVALID: { status: 400, apiCode: 'INVALID_ARGUMENT' },
  UNAUTHORIZED: { status: 401, apiCode: 'UNAUTHORIZED' },
  DENIED: { status: 403, apiCode: 'FORBIDDEN' },
  UNSUPPORTED: { status: 400, apiCode: 'UNSUPPORTED' },
  TOOMANYREQUESTS: { status: 429, apiCode: 'TOO_MANY_REQUESTS' },
  RANGE_INVALID: { status: 400, apiCode: 'INVALID_ARGUMENT' },
};

/** Fastify's own client errors, by error code. */
const FRAMEWORK_ERRORS: Record<string, { status: number; apiCode: ApiErrorCode; message: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, apiCode: 'INVALID_ARGUMENT', message: 'the request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    apiCode: 'INVALID_ARGUMENT',
    message: 'the request body is empty but Content-Type says application/json',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    apiCode: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'the request body must be JSON, sent with Content-Type: application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, apiCode: 'INVALID_ARGUMENT', message: 'Content-Length does not match the body' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, apiCode: 'TOO_LARGE', message: 'the request body is too large' },
};

export function sendApiError(
  reply: FastifyReply,
  status: number,
  code: ApiErrorCode,
  message: string,
  details: Record<string, unknown> = {},
): FastifyReply {
  const body: ApiErrorBody = { code, message, details };
  // A 503 also says when to retry.
  if (status === 503) reply.header('Retry-After', String(retryAfterSeconds(details)));
  return reply.code(status).header('Content-Type', 'application/json; charset=utf-8').send(body);
}

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
  propertyName?: string;
}

/** `/upstream/auth` → `upstream.auth`; the location (`body`, `querystring`) for the root. */
function fieldName(instancePath: string, location: string): string {
  const path = instancePath.split('/').filter(Boolean).join('.');
  return path || location;
}

/** One readable sentence for the first schema violation. */
export function describeValidation(issues: readonly ValidationIssue[], location: string): { message: string; field: string } {
  // A closed object rejects unknown property names before anything else (see schemas.ts).
  const unknown = issues.find((i) => i.propertyName !== undefined);
  if (unknown) {
    const parent = fieldName(unknown.instancePath, '');
    const field = parent ? `${parent}.${unknown.propertyName}` : String(unknown.propertyName);
    const allowed = issues.find((i) => i.keyword === 'enum' && i.propertyName !== undefined)?.params.allowedValues;
    const hint = Array.isArray(allowed) ? ` (allowed: ${allowed.join(', ')})` : '';
    return { field, message: `unknown field "${field}" in the ${location}${hint}` };
  }
  const issue = issues[0];
  if (!issue) return { field: location, message: `invalid ${location}` };
  const field = fieldName(issue.instancePath, location);
  switch (issue.keyword) {
    case 'required': {
      const missing = String(issue.params.missingProperty);
      const full = field === location ? missing : `${field}.${missing}`;
      return { field: full, message: `${full} is required` };
    }
    case 'enum':
      return { field, message: `${field} must be one of ${(issue.params.allowedValues as unknown[]).join(', ')}` };
    case 'type':
      return { field, message: `${field} must be ${String(issue.params.type).replace(',', ' or ')}` };
    default:
      return { field, message: `${field} ${issue.message ?? 'is invalid'}` };
  }
}

/** The plugin's error handler: domain errors through the table, framework errors as 4xx. */
export function apiErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isPalletError(err)) {
    const entry = API_ERRORS[err.code];
    if (entry.status >= 500) request.log.error({ err }, 'request failed');
    return sendApiError(reply, entry.status, entry.apiCode, err.message, err.detail ?? {});
  }
  if (err.validation) {
    const location = err.validationContext ?? 'request';
    const { message, field } = describeValidation(err.validation as ValidationIssue[], location);
    return sendApiError(reply, 400, 'INVALID_ARGUMENT', message, { field, location });
  }
  const framework = FRAMEWORK_ERRORS[err.code];
  if (framework) return sendApiError(reply, framework.status, framework.apiCode, framework.message);
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return sendApiError(reply, err.statusCode, err.statusCode === 413 ? 'TOO_LARGE' : 'INVALID_ARGUMENT', err.message);
  }
  request.log.error({ err }, 'request failed');
  return sendApiError(reply, 500, 'INTERNAL', 'internal error', { requestId: request.id });
}
