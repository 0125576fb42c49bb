/**
 * Checks of the settable fields of a registry (kind, labels, flags), shared by its creation and
 * its PATCH. Each refuses bad input with INVALID_ARGUMENT naming the field; `undefined` means
 * "not given" and passes through.
 */
import type { JsonObject } from '../base/json.js';
import { PalletError } from '../base/errors.js';
import type { RegistryKind } from '../metadata/store.js';

export const REGISTRY_KINDS: readonly RegistryKind[] = ['local', 'upstream'];
export const MAX_LABEL_LENGTH = 64;

export function invalid(message: string, field: string, extra: JsonObject = {}): PalletError {
  return new PalletError('INVALID_ARGUMENT', message, { field, ...extra });
}

export function checkKind(value: unknown): RegistryKind {
  if (typeof value !== 'string' || !(REGISTRY_KINDS as readonly string[]).includes(value)) {
    throw invalid(`kind must be one of ${REGISTRY_KINDS.join(', ')}; got ${JSON.stringify(value)}`, 'kind');
  }
  return value as RegistryKind;
}

/** Labels: non-empty strings of at most 64 characters, trimmed; duplicates keep the first. */
export function checkLabels(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw invalid('labels must be an array of strings', 'labels');
  const out: string[] = [];
  for (const [i, raw] of value.entries()) {
    if (typeof raw !== 'string') throw invalid(`labels[${i}] must be a string`, 'labels');
    const label = raw.trim();
    if (label.length === 0) throw invalid(`labels[${i}] must not be empty`, 'labels');
    if (label.length > MAX_LABEL_LENGTH) {
      throw invalid(`labels[${i}] is ${label.length} characters long; a label has at most ${MAX_LABEL_LENGTH}`, 'labels');
    }
    if (!out.includes(label)) out.push(label);
  }
  return out;
}

export function checkBoolean(value: unknown, field: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(`${field} must be true or false`, field);
  return value;
}
