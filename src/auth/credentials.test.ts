/** The Authorization header as every surface reads it: what is taken and what is malformed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPalletError } from '../base/errors.js';
import { parseAuthorization } from './credentials.js';

const basic = (pair: string): string => `Basic ${Buffer.from(pair).toString('base64')}`;

describe('parseAuthorization', () => {
  it('reads basic and bearer credentials', () => {
    assert.deepEqual(parseAuthorization(basic('ann:pw:with:colons')), { type: 'basic', username: 'ann', password: 'pw:with:colons' });
    assert.deepEqual(parseAuthorization('Bearer abc'), { type: 'bearer', token: 'abc' });
    assert.equal(parseAuthorization(undefined), undefined);
  });

  it('refuses a user name with a NUL (PostgreSQL refuses it in text: it was a 500) and other malformed headers', () => {
    for (const header of [basic('a\u0000b:pw'), basic(':pw'), basic('nocolon'), 'Basic', 'Digest x']) {
      assert.throws(() => parseAuthorization(header), (err: unknown) => isPalletError(err, 'UNAUTHORIZED'), header);
    }
  });
});
