/**
 * Upstream packument documents: what is kept of an untrusted document, the ordered merge
 * (first registry wins per version; dist-tags from the local registry, then the first registry
 * that has the package), the checksum a tarball is verified against, and tarball URL rewriting.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checksumOf, mergePackuments, packumentObject, readPackument, tarballFileName, tarballOf, versionOfFile } from './packument-doc.js';

function version(name: string, v: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, version: v, dependencies: { dep: '^1.0.0' }, scripts: { test: 'x' }, dist: { tarball: `https://up.example/${name}/-/${name}-${v}.tgz`, integrity: `sha512-${Buffer.from(v).toString('base64')}`, shasum: 'a'.repeat(40) }, ...extra };
}

function doc(name: string, versions: string[], distTags: Record<string, string>, fields: Record<string, unknown> = {}) {
  return readPackument({ name, 'dist-tags': distTags, versions: Object.fromEntries(versions.map((v) => [v, version(name, v, fields)])), description: `from ${JSON.stringify(fields)}` }, name);
}

describe('upstream packument documents', () => {
  it('keeps only versions with a plausible number and an http(s) tarball, and tags naming them', () => {
    const d = readPackument(
      {
        name: 'left-pad',
        'dist-tags': { latest: '1.0.0', bad: '../x', gone: '9.9.9' },
        versions: {
          '1.0.0': version('left-pad', '1.0.0'),
          '../etc': version('left-pad', '../etc'),
          '2.0.0': { ...version('left-pad', '2.0.0'), dist: { tarball: 'file:///etc/passwd' } },
          '3.0.0': 'not an object',
        },
      },
      'left-pad',
    );
    assert.deepEqual([...d.versions.keys()], ['1.0.0']);
    assert.equal(d.skipped, 3);
    assert.deepEqual(d.distTags, { latest: '1.0.0' });
  });

  it('refuses a document that is not an object or names another package', () => {
    assert.throws(() => readPackument([], 'a'), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => readPackument({ name: 'b', versions: {} }, 'a'), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => readPackument({ name: 'a', versions: [] }, 'a'), { code: 'INVALID_ARGUMENT' });
  });

  it('merges in order: the first registry wins per version, later ones add the versions it lacks', () => {
    const own = doc('pkg', ['1.0.0'], { latest: '1.0.0' }, { from: 'own' });
    const first = doc('pkg', ['1.0.0', '2.0.0'], { latest: '2.0.0', next: '2.0.0' }, { from: 'first' });
    const second = doc('pkg', ['2.0.0', '3.0.0'], { latest: '3.0.0', beta: '3.0.0' }, { from: 'second' });
    const merged = mergePackuments('pkg', [
      { origin: 'own', doc: own },
      { origin: 'first', doc: first },
      { origin: 'second', doc: second },
    ], own.distTags);
    assert.deepEqual([...merged.doc.versions.keys()], ['1.0.0', '2.0.0', '3.0.0']);
    assert.deepEqual(Object.fromEntries(merged.origins), { '1.0.0': 'own', '2.0.0': 'first', '3.0.0': 'second' });
    assert.equal(merged.doc.versions.get('2.0.0')!.from, 'first');
    // The local registry's tags win; the rest come from the first registry that has the package (own).
    assert.deepEqual(merged.doc.distTags, { latest: '1.0.0' });
  });

  it('takes dist-tags from the first upstream that has the package when the local registry has none', () => {
    const empty = doc('pkg', [], {});
    const first = doc('pkg', ['1.0.0', '2.0.0'], { latest: '2.0.0', next: '2.0.0' });
    const second = doc('pkg', ['3.0.0'], { latest: '3.0.0', beta: '3.0.0' });
    const merged = mergePackuments('pkg', [
      { origin: 'u0', doc: empty },
      { origin: 'u1', doc: first },
      { origin: 'u2', doc: second },
    ]);
    assert.deepEqual(merged.doc.distTags, { latest: '2.0.0', next: '2.0.0' });
    // A tag the local registry sets wins over the upstream's, tag by tag.
    const tagged = mergePackuments('pkg', [{ origin: 'u1', doc: first }], { next: '1.0.0', gone: '7.0.0' });
    assert.deepEqual(tagged.doc.distTags, { latest: '2.0.0', next: '1.0.0' });
  });

  it('verifies against sha512 of the integrity, else the strongest other, else the sha1 shasum', () => {
    assert.deepEqual(checksumOf('sha1-AAAA sha512-BBBB', 'c'.repeat(40)), { algorithm: 'sha512', value: 'BBBB', encoding: 'base64' });
    assert.deepEqual(checksumOf('sha1-AAAA', undefined), { algorithm: 'sha1', value: 'AAAA', encoding: 'base64' });
    assert.deepEqual(checksumOf(undefined, 'C'.repeat(40)), { algorithm: 'sha1', value: 'c'.repeat(40), encoding: 'hex' });
    assert.equal(checksumOf('md5-xx', 'short'), undefined);
    const d = doc('pkg', ['1.0.0'], {});
    assert.equal(tarballOf(d, '1.0.0')!.checksum!.algorithm, 'sha512');
    assert.equal(tarballOf(d, '2.0.0'), undefined);
  });

  it('names tarballs without the scope and reads the version back from a file name', () => {
    assert.equal(tarballFileName('@acme/widget', '1.2.3-beta.1'), 'widget-1.2.3-beta.1.tgz');
    assert.equal(versionOfFile('@acme/widget', 'widget-1.2.3-beta.1.tgz'), '1.2.3-beta.1');
    assert.equal(versionOfFile('@acme/widget', 'other-1.0.0.tgz'), undefined);
    assert.equal(versionOfFile('widget', 'widget-.tgz'), undefined);
  });

  it('rewrites every tarball URL to Pallet, and the install form keeps only what installing needs', () => {
    const d = readPackument({ name: '@acme/widget', 'dist-tags': { latest: '1.0.0' }, versions: { '1.0.0': version('@acme/widget', '1.0.0', { readme: 'long' }) }, time: { modified: '2024-01-01T00:00:00.000Z' }, readme: 'x' }, '@acme/widget');
    const base = 'http://pallet.test/pkg/acme/npm-local/npm';
    const full = packumentObject(d, 'full', base) as { versions: Record<string, Record<string, unknown>>; readme: string };
    const v = full.versions['1.0.0']!;
    assert.equal((v.dist as { tarball: string }).tarball, `${base}/@acme/widget/-/widget-1.0.0.tgz`);
    assert.equal((v.dist as { integrity: string }).integrity, `sha512-${Buffer.from('1.0.0').toString('base64')}`);
    assert.equal(v.readme, 'long');
    assert.equal(full.readme, 'x');
    const install = packumentObject(d, 'install', base) as { versions: Record<string, Record<string, unknown>>; modified: string; readme?: string };
    assert.equal(install.modified, '2024-01-01T00:00:00.000Z');
    assert.equal(install.readme, undefined);
    assert.deepEqual(Object.keys(install.versions['1.0.0']!).sort(), ['dependencies', 'dist', 'name', 'version']);
  });
});
