/**
 * What the domain knows of a package format: its type id, how people see it, which upstream
 * sources its proxies may use and what their URLs look like, and its Setup Client steps. The
 * formats (`src/formats/<format>/format.ts`) declare these and `src/formats/index.ts` lists
 * them; the domain is handed the list (`PackageTypes`) and never names a format itself.
 */
import { PalletError } from '../base/errors.js';

/** An upstream source a proxy of the format may use. */
export interface UpstreamSourceSpec {
  /** Stored in the proxy config (`dockerhub`, `npmjs`, `custom`). */
  id: string;
  label: string;
  /**
   * The fixed URL of a well-known public source (its proxies carry no `url`); absent for
   * `custom`, whose URL the admin gives.
   */
  defaultUrl?: string;
  /**
   * Hosts a well-known source's clients may talk to besides its URL's (a public registry's
   * token service and CDN); `dockerHub`: it speaks Docker Hub's dialect (`library/` names).
   */
  hosts?: { tokenRealmHosts?: readonly string[]; redirectHosts?: readonly string[]; dockerHub?: boolean };
}

/** What the Setup Client steps of one registry are written from. */
export interface SetupContext {
  /** The external base URL (`https://pallet.example.com`), no trailing slash. */
  baseUrl: string;
  /** `host[:port]` of the base URL. */
  host: string;
  /** The base URL is plain HTTP: clients need their "insecure" flags. */
  plain: boolean;
  rootPath: string;
  identifier: string;
  /** Local registries accept pushes; upstream proxies are read-only. */
  pushable: boolean;
  public: boolean;
}

export interface SetupStep {
  title: string;
  commands: string[];
  /** Extra advice for the step (e.g. plain-HTTP hosts). */
  note?: string;
}

/** One version of an artifact, as a pull command names it. */
export type VersionReference = { tag: string } | { digest: string };

export interface PackageTypeSpec {
  /** The `packageType` of its registries: a name-rule word, fixed forever once shipped. */
  type: string;
  /** How people call it (`Docker`, `Helm`). */
  label: string;
  /** One line for the "new registry" type cards. */
  description: string;
  /** The UI's icon name for it (the UI maps names to glyphs; unknown names get a generic one). */
  icon: string;
  /** Served over `/v2` (OCI distribution): images, OCI artifacts. */
  ociBased: boolean;
  /**
   * The folder of its own routes under `/pkg/<root>/<registry>/` (`helm` →
   * `/pkg/acme/charts/helm/index.yaml`); absent when it has none.
   */
  pkgPath?: string;
  /** The sources its upstream proxies may use; at least `custom` in practice. */
  sources: readonly UpstreamSourceSpec[];
  /** The source an upstream config without one gets; none: `source` is required. */
  defaultSource?: string;
  /** URL schemes a custom source may use (`['http:', 'https:']`). */
  urlSchemes: readonly string[];
  /** What a custom URL points at, for messages and the UI (`a classic chart repository`). */
  urlHint: string;
  /** The Setup Client steps of a registry of this type (log in, push, pull, …). */
  setup(ctx: SetupContext): SetupStep[];
  /**
   * The command that fetches one version of `artifact` from a registry of this type (shown
   * beside each version in the UI); absent when the type has no such command.
   */
  pullCommand?(ctx: SetupContext, artifact: string, version: VersionReference): string;
  /**
   * Where a version's format detail goes in the API's version detail. An OCI-based format whose
   * artifacts carry their metadata in the OCI config blob (Helm's Chart.yaml as JSON) sets
   * `mediaType`: the detail shows that config under `field` when the config has it (null
   * otherwise). A format not served over OCI leaves `mediaType` out: `field` then holds what its
   * `FormatPackages.detail` returns. The field is part of the API's version detail for every
   * build that serves the format.
   */
  versionDetail?: { field: string; mediaType?: string; description: string };
  /**
   * Per-registry settings of this format, set under `"settings"` on create and PATCH and stored
   * with the registry (`RegistryRecord.settings`): key → its type, default and description
   * (`allowOverwrite: { type: 'boolean', default: false, … }`). Unknown keys and wrong types
   * are refused with INVALID_ARGUMENT; a key not set reads as its default.
   */
  settings?: Readonly<Record<string, RegistrySettingSpec>>;
}

/** One per-registry setting a format declares. */
export type RegistrySettingSpec =
  | { type: 'boolean'; default: boolean; description: string }
  | { type: 'string'; default: string; enum?: readonly string[]; description: string }
  | { type: 'integer'; default: number; minimum?: number; maximum?: number; description: string };

/** A registry's value of one of its format's settings (the stored value, else the default). */
export function registrySetting<T extends boolean | string | number>(
  spec: Pick<PackageTypeSpec, 'settings'>,
  registry: { settings?: Readonly<Record<string, unknown>> },
  key: string,
): T {
  const declared = spec.settings?.[key];
  if (!declared) throw new Error(`format declares no registry setting ${key}`);
  const value = registry.settings?.[key];
  return (typeof value === typeof declared.default ? value : declared.default) as T;
}

/** The formats this process serves, by type. */
export class PackageTypes {
  private readonly byType = new Map<string, PackageTypeSpec>();

  constructor(specs: readonly PackageTypeSpec[]) {
    for (const spec of specs) {
      if (this.byType.has(spec.type)) throw new Error(`package type ${spec.type} is registered twice`);
      this.byType.set(spec.type, spec);
    }
  }

  /** Type ids in registration order. */
  get types(): string[] {
    return [...this.byType.keys()];
  }

  get all(): PackageTypeSpec[] {
    return [...this.byType.values()];
  }

  find(type: string): PackageTypeSpec | undefined {
    return this.byType.get(type);
  }

  /** The spec of a stored registry's type; throws when that format is not served here. */
  get(type: string): PackageTypeSpec {
    const spec = this.byType.get(type);
    if (!spec) throw new PalletError('UNSUPPORTED', `package type ${type} is not served by this build`, { packageType: type });
    return spec;
  }

  /** Validates a client-given `packageType` (INVALID_ARGUMENT naming the served ones). */
  check(value: unknown): string {
    if (typeof value !== 'string' || !this.byType.has(value)) {
      throw new PalletError('INVALID_ARGUMENT', `packageType must be one of ${this.types.join(', ')}; got ${JSON.stringify(value)}`, { field: 'packageType' });
    }
    return value;
  }
}
