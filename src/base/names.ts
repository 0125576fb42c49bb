/**
 * Name rules: the product's rule for space segments and registry identifiers, and the OCI
 * grammar for repository names and tags.
 */
import { PalletError } from './errors.js';

/**
 * Space segments and registry identifiers are path components of OCI repository names
 * (`<root>/<registry>/<image>`), so they follow the OCI component grammar too: separators
 * (".", "_", "__" or a run of "-") only between letters and digits. `a..b` or `a-` would be
 * accepted here and then refused by every client.
 */
export const NAME_RULE = /^[a-z][a-z0-9]*(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
export const NAME_RULE_TEXT =
  'must start with a lowercase letter and contain only lowercase letters, digits and the separators "_", "." and "-", each separator between two letters or digits ("__" and "--" are allowed; at most 255 characters)';
/** The rule before separators were restricted: names created under it can still be looked up. */
export const LEGACY_NAME_RULE = /^[a-z][a-z0-9._-]*$/;

/** Checks a new space segment or registry identifier; throws INVALID_NAME saying the rule. */
export function checkName(what: string, value: unknown, rule: RegExp = NAME_RULE): string {
  if (typeof value !== 'string' || value.length > 255 || !rule.test(value)) {
    throw new PalletError('INVALID_NAME', `${what} ${JSON.stringify(value)} is invalid: it ${NAME_RULE_TEXT}`, {
      field: what,
      rule: NAME_RULE.source,
    });
  }
  return value;
}

/** One path component of an OCI repository name (distribution spec). */
const REPO_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export function isRepositoryComponent(value: string): boolean {
  return REPO_COMPONENT.test(value);
}

/** Checks an image name inside a registry (`team/app`); throws NAME_INVALID. */
export function checkImageName(value: string): string {
  const parts = value.split('/');
  if (value.length === 0 || value.length > 255 || !parts.every(isRepositoryComponent)) {
    throw new PalletError('NAME_INVALID', `invalid repository name ${JSON.stringify(value)}`, { name: value });
  }
  return value;
}

export function isTag(value: string): boolean {
  return TAG_RE.test(value);
}
