/**
 * The package types the server serves (`GET /api/v1/package-types`), loaded once per page load
 * and shared: the UI offers, labels and draws every format from them and names none itself.
 * Setup steps and pull commands come with `<root>`, `<registry>`, `<artifact>`, `<tag>` and
 * `<digest>` placeholders, which `fillTemplate` fills in.
 */
import { useEffect, useState } from 'react';
import { api, type PackageType, type PackageTypeList, type Registry } from './api.js';

export type { PackageType };

let loading: Promise<PackageType[]> | undefined;

/** The served package types; a failed load is retried by the next caller. */
export function loadPackageTypes(): Promise<PackageType[]> {
  if (!loading) {
    const attempt = api<PackageTypeList>('GET', '/package-types').then((list) => list.items);
    attempt.catch(() => {
      if (loading === attempt) loading = undefined;
    });
    loading = attempt;
  }
  return loading;
}

export interface PackageTypesState {
  /** Undefined until loaded. */
  types: PackageType[] | undefined;
  error: unknown;
  /** The package type `type`, once loaded and when served. */
  find(type: string): PackageType | undefined;
}

export function usePackageTypes(): PackageTypesState {
  const [types, setTypes] = useState<PackageType[] | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    let live = true;
    loadPackageTypes().then(
      (loaded) => live && setTypes(loaded),
      (err: unknown) => live && setError(err),
    );
    return () => {
      live = false;
    };
  }, []);
  return { types, error, find: (type) => types?.find((t) => t.type === type) };
}

/** The source a new upstream proxy of `type` starts with. */
export function initialSource(type: PackageType): string {
  return type.defaultSource ?? type.sources[0]?.id ?? 'custom';
}

/** The label of upstream source `id` of `type` (the id itself when unknown). */
export function sourceLabel(type: PackageType | undefined, id: string): string {
  return type?.sources.find((s) => s.id === id)?.label ?? id;
}

const PLACEHOLDER = /<(root|registry|artifact|tag|digest)>/g;

/** `template` with its placeholders replaced, in one pass (a value is never read as a placeholder). */
export function fillTemplate(template: string, values: Partial<Record<'root' | 'registry' | 'artifact' | 'tag' | 'digest', string>>): string {
  return template.replace(PLACEHOLDER, (whole, name: keyof typeof values) => values[name] ?? whole);
}

/** The pull command of one version of `artifact` in `registry`; null when its type has none. */
export function pullCommand(type: PackageType | undefined, registry: Registry, artifact: string, reference: string): string | null {
  if (!type?.pull) return null;
  // A digest is `algorithm:hex`; a tag never contains a colon.
  const byDigest = reference.includes(':');
  const values = { root: registry.root, registry: registry.identifier, artifact };
  return byDigest ? fillTemplate(type.pull.byDigest, { ...values, digest: reference }) : fillTemplate(type.pull.byTag, { ...values, tag: reference });
}

/** `a`, `a or b`, `a, b or c`. */
export function orList(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}
