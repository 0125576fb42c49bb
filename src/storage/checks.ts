/**
 * Argument checks shared by every storage driver, so that all drivers reject the same keys,
 * offsets and ranges with the same errors (the shared suite relies on it).
 */
import type { ByteRange } from './driver.js';
import { PalletError } from '../base/errors.js';

/**
 * A key is one or more '/'-separated segments, none empty, '.' or '..', and none holding '\' or
 * NUL: such a key can neither escape a driver's root nor name one object two ways.
 */
export function checkKey(key: string): void {
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.' || segment === '..' || segment.includes('\\') || segment.includes('\0')) {
      throw new PalletError('INVALID_ARGUMENT', `invalid storage key ${JSON.stringify(key)}`, { key });
    }
  }
}

/** `writeAt` offsets are non-negative safe integers. */
export function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new PalletError('INVALID_ARGUMENT', `invalid write offset ${offset}`, { offset });
  }
}

export function offsetBeyondSize(key: string, offset: number, size: number): PalletError {
  return new PalletError('INVALID_ARGUMENT', `write offset ${offset} exceeds the size ${size} of ${key}`, { key, offset, size });
}

export function notFound(key: string): PalletError {
  return new PalletError('NOT_FOUND', `no object at storage key ${key}`, { key });
}

/**
 * Resolves an inclusive range against an object's size with HTTP semantics: `start` must fall
 * inside the object (so an empty object has no satisfiable range) and an `end` past the last
 * byte means "to the end". Throws INVALID_ARGUMENT otherwise; callers wanting RANGE_INVALID
 * check against `stat` first.
 */
export function resolveRange(range: ByteRange, size: number, key: string): ByteRange {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || start >= size) {
    throw new PalletError('INVALID_ARGUMENT', `range ${start}-${end} is not satisfiable for ${key} of ${size} bytes`, {
      key,
      start,
      end,
      size,
    });
  }
  return { start, end: Math.min(end, size - 1) };
}
