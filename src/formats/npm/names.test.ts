/** Package name rules and request paths as the npm CLI sends them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPackageName, parseNpmPath, tarballFileName } from './names.js';
import { compareVersions, highestVersion, isValidVersion } from './semver.js';

describe('npm names and paths', () => {
  it('accepts what npm accepts for new packages and refuses the rest', () => {
    for (const ok of ['a', 'left-pad', 'lodash.get', '@scope/name', '@s/n.x_y~z', 'a'.repeat(214)]) assert.equal(checkPackageName(ok).name, ok);
    for (const bad of ['', 'A', '@scope/Name', '.a', '_a', 'a..b', '@sc/..', 'a b', 'a/b', '@scope', '@/x', 'a%20', 'é', 'node_modules', 'a'.repeat(215), ' a']) {
      assert.throws(() => checkPackageName(bad), /invalid package name/, bad);
    }
    assert.deepEqual(checkPackageName('@acme/util'), { name: '@acme/util', scope: 'acme', bare: 'util' });
  });

  it('parses packument, tarball, rev and registry paths, scoped either way', () => {
    assert.deepEqual(parseNpmPath('left-pad'), { kind: 'package', name: 'left-pad' });
    assert.deepEqual(parseNpmPath('@acme%2futil'), { kind: 'package', name: '@acme/util' });
    assert.deepEqual(parseNpmPath('@acme/util'), { kind: 'package', name: '@acme/util' });
    assert.deepEqual(parseNpmPath('@acme%2futil/-rev/3-abc'), { kind: 'package', name: '@acme/util', rev: '3-abc' });
    assert.deepEqual(parseNpmPath('@acme/util/-/util-1.0.0.tgz'), { kind: 'tarball', name: '@acme/util', file: 'util-1.0.0.tgz' });
    assert.deepEqual(parseNpmPath('a/-/a-1.0.0.tgz/-rev/2-x'), { kind: 'tarball', name: 'a', file: 'a-1.0.0.tgz', rev: '2-x' });
    assert.deepEqual(parseNpmPath('@acme/util/latest'), { kind: 'version', name: '@acme/util', spec: 'latest' });
    assert.deepEqual(parseNpmPath('a/1.0.0'), { kind: 'version', name: 'a', spec: '1.0.0' });
    assert.deepEqual(parseNpmPath('-/v1/search'), { kind: 'registry', segments: ['v1', 'search'] });
    for (const bad of ['', 'a/b/c', 'a//b', 'a/-', '@acme', 'a/-/f/x', '%E0%A4%A']) assert.throws(() => parseNpmPath(bad), /no npm registry endpoint|malformed/, bad);
    for (const bad of ['a%00b', '@acme%2fu%0a', 'a/-/a-1.0.0.tgz%7f', '-/user/org.couchdb.user:a%00']) assert.throws(() => parseNpmPath(bad), /control character/, bad);
    assert.equal(tarballFileName('@acme/util', '1.0.0'), 'util-1.0.0.tgz');
  });

  it('checks and orders semantic versions', () => {
    for (const ok of ['0.0.0', '1.2.3', '1.0.0-beta.1', '1.0.0+build.5', '10.20.30-rc.1+x']) assert.ok(isValidVersion(ok), ok);
    for (const bad of ['1.0', 'v1.0.0', '01.0.0', '1.0.0-', '1.0.0-01', 'latest', '1.0.0 ']) assert.ok(!isValidVersion(bad), bad);
    const sorted = ['1.0.0', '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-beta', '1.0.0-alpha.beta', '1.0.0-beta.11', '1.0.0-beta.2', '1.0.0-rc.1', '0.9.9', '2.0.0'].sort(compareVersions);
    assert.deepEqual(sorted, ['0.9.9', '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '2.0.0']);
    assert.equal(highestVersion(['1.0.0', '2.0.0-beta.1', '1.5.0']), '1.5.0');
    assert.equal(highestVersion(['2.0.0-beta.1', '2.0.0-alpha']), '2.0.0-beta.1');
    assert.equal(highestVersion([]), undefined);
  });
});
