/**
 * Typed errors of the domain. Domain code throws `PalletError` with a code from `ErrorCode`;
 * it never picks an HTTP status. Each HTTP surface (formats/oci, api/) maps codes to statuses
 * in exactly one table.
 */

/** Codes from the OCI distribution spec, used where the domain speaks OCI. */
export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID';

/** Codes of the management domain. */
export type ManagementErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CONFLICT'
  | 'INVALID_NAME'
  | 'INVALID_ARGUMENT'
  | 'TOO_LARGE'
  | 'UNAVAILABLE'
  /** The disk (or database) has no room left for the write; reads and deletes still work. */
  | 'INSUFFICIENT_STORAGE';

export type ErrorCode = OciErrorCode | ManagementErrorCode;

export class PalletError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'PalletError';
  }
}

export function isPalletError(err: unknown, code?: ErrorCode): err is PalletError {
  return err instanceof PalletError && (code === undefined || err.code === code);
}
