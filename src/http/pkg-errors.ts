/**
 * The HTTP status of every domain error code on the `/pkg` surfaces of package formats whose
 * error body is `{"error": "<message>"}` (the ChartMuseum API, the npm registry API, generic
 * files): written once here, so a new error code gets a status in every such format at once. A
 * format that answers a code differently says so where it sends the error.
 */
import type { ErrorCode } from '../base/errors.js';

export const PKG_STATUS: Readonly<Record<ErrorCode, number>> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  INVALID_NAME: 400,
  INVALID_ARGUMENT: 400,
  TOO_LARGE: 413,
  UNAVAILABLE: 503,
  INSUFFICIENT_STORAGE: 507,
};
