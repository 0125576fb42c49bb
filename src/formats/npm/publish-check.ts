/**
 * Checks the document of an `npm publish` (`PUT /<name>` with `_attachments`) against the URL it
 * was sent to and the tarball that was staged from it, and turns it into what is stored. Every
 * refusal is INVALID_ARGUMENT (or INVALID_NAME) naming the rule; nothing is stored by this
 * module. What npm sends (libnpmpublish): `{_id, name, description, dist-tags: {<tag>: <v>},
 * versions: {<v>: <package.json with dist.integrity, dist.shasum>}, access, _attachments:
 * {"<name>-<v>.tgz": {content_type, data, length}}}`.
 */
import { PalletError } from '../../base/errors.js';
import { isJsonObject } from '../../base/json.js';
import type { PackageName } from './names.js';
import { PACKAGE_FIELDS } from './packument.js';
import { isValidVersion } from './semver.js';
import type { StagedTarball } from './tarball-upload.js';

/** Who publishes (recorded as `_npmUser` and, for a new package, its maintainer). */
export interface Publisher {
  name: string;
  email: string;
}

/** A checked publish: the version's stored package.json, the tags to move, package-level fields. */
export interface CheckedPublish {
  version: string;
  manifest: Record<string, unknown>;
  distTags: string[];
  /** Package-level packument fields from this version (stored when it becomes `latest`). */
  packageFields: Record<string, unknown>;
}

/** Fields of a version's package.json a client may not set (the registry's own, or transport). */
const STRIPPED = ['dist', '_id', '_rev', '_attachments', '_npmUser', '_resolved', '_integrity', '_from', 'readme'];

function bad(message: string): PalletError {
  return new PalletError('INVALID_ARGUMENT', message);
}

/** A dist-tag name npm accepts: URL-safe, not empty, and not something that reads as a version. */
export function checkTagName(tag: string): string {
  if (tag === '' || tag.length > 256 || encodeURIComponent(tag) !== tag) throw bad(`invalid dist-tag ${JSON.stringify(tag.slice(0, 100))}: it must be a URL-safe word`);
  // An own key `__proto__` is kept by some writes and lost by others (assignment sets a prototype).
  if (tag === '__proto__') throw bad('invalid dist-tag "__proto__"');
  if (/^v?\d/i.test(tag)) throw bad(`invalid dist-tag ${JSON.stringify(tag)}: a tag must not look like a version or range`);
  return tag;
}

/** Checks `dist.integrity` and `dist.shasum` as sent against what was computed while staging. */
function checkDist(dist: unknown, staged: StagedTarball, label: string): void {
  if (dist === undefined) return;
  if (!isJsonObject(dist)) throw bad(`${label}: dist must be an object`);
  if (dist.shasum !== undefined && dist.shasum !== staged.shasum) {
    throw bad(`${label}: dist.shasum ${String(dist.shasum).slice(0, 100)} does not match the tarball (sha1 ${staged.shasum})`);
  }
  if (dist.integrity === undefined) return;
  if (typeof dist.integrity !== 'string') throw bad(`${label}: dist.integrity must be a string`);
  const sha1 = `sha1-${Buffer.from(staged.shasum, 'hex').toString('base64')}`;
  let checked = 0;
  for (const entry of dist.integrity.trim().split(/\s+/)) {
    const hash = entry.split('?')[0]!;
    if (hash.startsWith('sha512-')) {
      if (hash !== staged.integrity) throw bad(`${label}: dist.integrity does not match the tarball (computed ${staged.integrity})`);
      checked++;
    } else if (hash.startsWith('sha1-')) {
      if (hash !== sha1) throw bad(`${label}: dist.integrity does not match the tarball (computed ${sha1})`);
      checked++;
    }
  }
  if (checked === 0) throw bad(`${label}: dist.integrity has no sha512 (or sha1) hash to check`);
}

/**
 * Checks a publish document for package `pkg` whose one attachment was staged as `staged`;
 * `publisher` is the user recorded as `_npmUser` (none for anonymous-capable setups).
 */
export function checkPublish(pkg: PackageName, doc: Record<string, unknown>, staged: StagedTarball, publisher: Publisher | undefined): CheckedPublish {
  const name = pkg.name;
  if (doc.name !== undefined && doc.name !== name) throw bad(`the document names package ${JSON.stringify(doc.name)}, not ${name} of the URL`);
  if (doc._id !== undefined && doc._id !== name) throw bad(`the document's _id ${JSON.stringify(doc._id)} is not ${name}`);
  if (!isJsonObject(doc.versions)) throw bad('a publish must carry "versions"');
  const numbers = Object.keys(doc.versions);
  if (numbers.length !== 1) throw bad(`a publish carries exactly one version, not ${numbers.length}`);
  const version = numbers[0]!;
  if (!isValidVersion(version)) throw bad(`invalid version ${JSON.stringify(version.slice(0, 100))}: it must be a semantic version (1.2.3)`);
  // npm drops build metadata before it publishes (semver.clean); a hand-made `1.0.0+x` beside
  // 1.0.0 would be a second version of equal precedence, and would bring back a retired number.
  if (version.includes('+')) throw bad(`invalid version ${JSON.stringify(version.slice(0, 100))}: a published version has no build metadata (publish ${version.slice(0, version.indexOf('+')).slice(0, 100)})`);
  const label = `${name}@${version}`;
  const sent = doc.versions[version];
  if (!isJsonObject(sent)) throw bad(`${label}: the version must be a package.json object`);
  if (sent.name !== name) throw bad(`${label}: its package.json names ${JSON.stringify(sent.name)}, not ${name}`);
  if (sent.version !== version) throw bad(`${label}: its package.json has version ${JSON.stringify(sent.version)}`);

  const attachments = doc._attachments;
  const file = `${name}-${version}.tgz`;
  if (!isJsonObject(attachments) || Object.keys(attachments).length !== 1 || !isJsonObject(attachments[file])) {
    throw bad(`${label}: a publish carries exactly one attachment, ${file}`);
  }
  if (staged.file !== file) throw bad(`${label}: the tarball data is under ${JSON.stringify(staged.file)}, not ${file}`);
  const length = attachments[file].length;
  if (length !== undefined && length !== staged.size) throw bad(`${label}: the attachment says length ${String(length)} but carries ${staged.size} bytes`);
  checkDist(sent.dist, staged, label);

  const tags = doc['dist-tags'] ?? { latest: version };
  if (!isJsonObject(tags)) throw bad(`${label}: dist-tags must be an object`);
  const distTags = Object.entries(tags).map(([tag, target]) => {
    if (target !== version) throw bad(`${label}: a publish may only tag the version it publishes (${tag} → ${String(target)})`);
    return checkTagName(tag);
  });

  const manifest: Record<string, unknown> = { ...sent };
  for (const field of STRIPPED) delete manifest[field];
  if (publisher) manifest._npmUser = { name: publisher.name, email: publisher.email };
  const packageFields: Record<string, unknown> = {};
  for (const field of PACKAGE_FIELDS) if (sent[field] !== undefined) packageFields[field] = sent[field];
  if (typeof doc.readme === 'string') packageFields.readme = doc.readme;
  if (typeof doc.description === 'string' && packageFields.description === undefined) packageFields.description = doc.description;
  if (packageFields.maintainers === undefined && publisher) packageFields.maintainers = [{ name: publisher.name, email: publisher.email }];
  return { version, manifest, distTags, packageFields };
}
