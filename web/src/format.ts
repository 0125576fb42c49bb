/** Display formats: sizes in binary units, counts with separators, times in the viewer's zone. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}

const numberFormat = new Intl.NumberFormat('en');
export const count = (n: number): string => numberFormat.format(n);

const dateFormat = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short' });
export const when = (iso: string): string => dateFormat.format(new Date(iso));

export const shortDigest = (digest: string): string => digest.replace(/^(sha256:)?([0-9a-f]{12})[0-9a-f]*$/, (_m, algo: string | undefined, hex: string) => `${algo ?? ''}${hex}`);

/** `127.0.0.1:5000/acme/images` from the registry's `url`. */
export const hostPath = (url: string): string => url.replace(/^[a-z]+:\/\//, '');

/** The name rule of registries, upstream proxies and spaces. */
export const NAME_RULE = /^[a-z][a-z0-9._-]*$/;
export const NAME_RULE_TEXT =
  'Start with a lowercase letter; use only lowercase letters, digits, "_", "." and "-" (rule ^[a-z][a-z0-9._-]*$, at most 255 characters).';

export function nameProblem(name: string): string | null {
  if (name === '') return 'A name is required. ' + NAME_RULE_TEXT;
  if (name.length > 255 || !NAME_RULE.test(name)) return `"${name}" is not a valid name. ${NAME_RULE_TEXT}`;
  return null;
}

/** Labels typed as `a, b c` → `['a', 'b', 'c']` without duplicates. */
export function parseLabels(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((l) => l.trim()).filter(Boolean))];
}
