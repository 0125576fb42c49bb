/**
 * The names of generic files read from raw URLs: what is taken, and what is refused (and why),
 * whatever a client encodes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPalletError } from '../../base/errors.js';
import { coordinatesOf, encodePath, fileOf } from './coordinates.js';

const at = (rest: string): string => `/pkg/acme/files/generic/${rest}`;

describe('generic file coordinates', () => {
  it('reads a package, a version and a file path, decoding each segment once', () => {
    assert.deepEqual(coordinatesOf(at('tool/1.0.0+build.7/bin/tool%20v1.tar.gz?x=1')), { package: 'tool', version: '1.0.0+build.7', path: 'bin/tool v1.tar.gz' });
    assert.deepEqual(coordinatesOf(at('tool/1.0')), { package: 'tool', version: '1.0' });
    assert.deepEqual(coordinatesOf(at('tool')), { package: 'tool' });
    assert.deepEqual(coordinatesOf(at('t/1/%2525')), { package: 't', version: '1', path: '%25' }, 'decoded once only');
    assert.deepEqual(coordinatesOf(at('t/1/caf%C3%A9')), { package: 't', version: '1', path: 'café' });
  });

  it('refuses separators, parents, empty segments, control characters, bad escapes and over-long names', () => {
    for (const rest of ['', 't/1/../x', 't/1/%2e%2E', 't/1/.', 't/1/a//b', 't/1/a/', 't/1/a%2fb', 't/1/a%5cb', 't/1/a%00', 't/1/a%1b', 't/1/%C2%85', 't/1/%', 't/1/%ed%b0%80', `t/1/${'a'.repeat(256)}`, `t/1/${'é'.repeat(128)}`, `t/1/${Array.from({ length: 5 }, () => 'b'.repeat(250)).join('/')}`, '_t/1/a', 't/.1/a', 'T%20/1/a', `${'t'.repeat(256)}/1/a`, `t/${'1'.repeat(129)}/a`]) {
      assert.throws(() => coordinatesOf(at(rest)), (err: unknown) => isPalletError(err, 'INVALID_NAME'), rest);
    }
  });

  it('skips the prefix whatever slashes the router ignored in it, and still refuses an empty name segment', () => {
    const file = { package: 't', version: '1', path: 'dir/f' };
    for (const url of ['/pkg/acme//files/generic/t/1/dir/f', '//pkg/acme/files/generic/t/1/dir/f', '/pkg//acme/files//generic/t/1/dir/f']) assert.deepEqual(coordinatesOf(url), file, url);
    assert.throws(() => coordinatesOf('/pkg/acme/files/generic//t/1/f'), (err: unknown) => isPalletError(err, 'INVALID_NAME'));
  });

  it('names a file only with a version and a path, and encodes it back for an upstream URL', () => {
    assert.throws(() => fileOf(coordinatesOf(at('tool/1.0'))), (err: unknown) => isPalletError(err, 'INVALID_NAME'));
    const file = fileOf(coordinatesOf(at('tool/1.0/dir/a%20b%23c')));
    assert.equal(encodePath(file), 'tool/1.0/dir/a%20b%23c');
  });
});
