/**
 * Narrowing helpers for parsed JSON.
 */
export type JsonObject = Record<string, unknown>;

/** A plain object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
