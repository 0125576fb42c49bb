/**
 * Builders for npm registry requests as the npm CLI (libnpmpublish) makes them: a gzip tarball
 * and the publish document around it, with integrity and shasum computed the way npm does.
 * `publishDoc().with(…)` makes one wrong thing on purpose for the bad-input tests.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export interface TarballFixture {
  bytes: Buffer;
  integrity: string;
  shasum: string;
}

/** A gzip "tarball" (gzip magic and a body unique to `seed`; the registry never unpacks it). */
export function tarball(seed: string, size = 256): TarballFixture {
  const body = Buffer.alloc(size, seed);
  body.write(seed);
  return describeTarball(gzipSync(body));
}

export function describeTarball(bytes: Buffer): TarballFixture {
  return {
    bytes,
    integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
    shasum: createHash('sha1').update(bytes).digest('hex'),
  };
}

/** The document of `npm publish <name>@<version>` carrying `tgz`, tagged `tag`. */
export function publishDoc(name: string, version: string, tgz: TarballFixture = tarball(`${name}@${version}`), tag = 'latest'): Record<string, unknown> {
  const file = `${name}-${version}.tgz`;
  return {
    _id: name,
    name,
    description: `the ${name} package`,
    'dist-tags': { [tag]: version },
    versions: {
      [version]: {
        name,
        version,
        description: `the ${name} package`,
        license: 'MIT',
        dependencies: { lodash: '^4.17.0' },
        scripts: { postinstall: 'node x.js' },
        readme: `# ${name}`,
        _id: `${name}@${version}`,
        dist: { integrity: tgz.integrity, shasum: tgz.shasum, tarball: `http://example.invalid/${name}/-/${file}` },
      },
    },
    access: null,
    _attachments: { [file]: { content_type: 'application/octet-stream', data: tgz.bytes.toString('base64'), length: tgz.bytes.length } },
  };
}

/** The URL path of a package name as npm sends it (`@scope%2fname`). */
export function escapedName(name: string): string {
  return name.startsWith('@') ? `@${encodeURIComponent(name.slice(1))}` : encodeURIComponent(name);
}
