/**
 * Single byte ranges as every surface reads them: the forms taken, the ones refused (416 with
 * the size), and the end clamped to the file.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPalletError } from '../base/errors.js';
import { parseRange, rangeWithin } from './byte-ranges.js';

describe('byte ranges', () => {
  it('reads a-b, a- and -n against the size, clamping the end', () => {
    assert.equal(parseRange(undefined, 10), undefined);
    assert.deepEqual(rangeWithin('bytes=2-5', 10), { start: 2, end: 5 });
    assert.deepEqual(rangeWithin('bytes=7-', 10), { start: 7, end: 9 });
    assert.deepEqual(rangeWithin('bytes=-3', 10), { start: 7, end: 9 });
    assert.deepEqual(rangeWithin('bytes=-30', 10), { start: 0, end: 9 });
    assert.deepEqual(rangeWithin('bytes=8-100', 10), { start: 8, end: 9 });
  });

  it('ignores another unit and multi-ranges (the whole file, RFC 9110 §14.2)', () => {
    for (const header of ['items=0-1', 'bytes=0-1,3-4', 'bytes=0-1, 20-30']) assert.equal(rangeWithin(header, 10), undefined, header);
  });

  it('refuses malformed ranges and ranges outside the file, naming the size', () => {
    for (const header of ['bytes=10-', 'bytes=5-4', 'bytes=-0', 'bytes=-', 'bytes=a-b']) {
      assert.throws(() => rangeWithin(header, 10), (err: unknown) => isPalletError(err, 'RANGE_INVALID') && err.detail?.size === 10, header);
    }
    assert.throws(() => rangeWithin('bytes=0-', 0), (err: unknown) => isPalletError(err, 'RANGE_INVALID'), 'nothing to range over in an empty file');
  });
});
