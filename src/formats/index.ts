/**
 * The one list of package formats this build serves. Adding a format is one folder under
 * `src/formats/` and one line here (see docs/formats.md); nothing else names it.
 */
import type { PackageFormat } from './format.js';
import { dockerFormat } from './oci/format.js';
import { helmFormat } from './helm/format.js';

export const FORMATS: readonly PackageFormat[] = [dockerFormat, helmFormat];
