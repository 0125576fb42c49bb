/**
 * `GET /api/v1/package-types`: the formats this process serves, with everything a client needs
 * to offer one without naming it in its code (the web UI renders its type cards, filters,
 * upstream form, icons and commands from this). Open to anonymous callers: it describes the
 * server, not anything stored in it.
 *
 * Setup steps and pull commands are the format's own, written for a placeholder registry:
 * the server's real base URL, with `<root>` and `<registry>` for the registry's root space and
 * name, and `<artifact>`, `<tag>`, `<digest>` for one version. A client fills them in;
 * `GET /registries/{root}/{identifier}/setup` has the steps of one registry filled in already.
 */
import type { FastifyInstance } from 'fastify';
import type { PackageTypeSpec, RegistrySettingSpec, SetupContext, SetupStep, UpstreamSourceSpec } from '../registry/package-types.js';
import { withErrors } from './responses.js';
import { packageTypeListSchema } from './schemas.js';

/** The placeholders of the templates in a package type view. */
export const PLACEHOLDERS = { root: '<root>', registry: '<registry>', artifact: '<artifact>', tag: '<tag>', digest: '<digest>' } as const;

/** A format's descriptor as the API shows it: its data fields, setup and pull written out. */
export interface PackageTypeView extends Pick<PackageTypeSpec, 'type' | 'label' | 'description' | 'icon' | 'ociBased' | 'pkgPath' | 'defaultSource' | 'urlHint'> {
  /** Per-registry settings, by key (`{}` when none). */
  settings: Record<string, RegistrySettingSpec>;
  versionDetail?: { field: string; description: string };
  sources: UpstreamSourceSpec[];
  urlSchemes: string[];
  setup: SetupStep[];
  pull?: { byTag: string; byDigest: string };
}

/** The setup context of a private local registry `<root>/<registry>` on `baseUrl`. */
function placeholderContext(baseUrl: string): SetupContext {
  const url = new URL(baseUrl);
  return { baseUrl, host: url.host, plain: url.protocol === 'http:', rootPath: PLACEHOLDERS.root, identifier: PLACEHOLDERS.registry, pushable: true, public: false };
}

/** The views of `types` for a server whose external base URL is `baseUrl` (no trailing slash). */
export function packageTypeViews(types: readonly PackageTypeSpec[], baseUrl: string): PackageTypeView[] {
  const ctx = placeholderContext(baseUrl);
  return types.map((t) => ({
    type: t.type,
    label: t.label,
    description: t.description,
    icon: t.icon,
    ociBased: t.ociBased,
    ...(t.pkgPath !== undefined ? { pkgPath: t.pkgPath } : {}),
    sources: t.sources.map((s) => ({ id: s.id, label: s.label, ...(s.defaultUrl !== undefined ? { defaultUrl: s.defaultUrl } : {}) })),
    ...(t.defaultSource !== undefined ? { defaultSource: t.defaultSource } : {}),
    urlSchemes: [...t.urlSchemes],
    urlHint: t.urlHint,
    setup: t.setup(ctx),
    settings: Object.fromEntries(Object.entries(t.settings ?? {}).map(([key, spec]) => [key, { ...spec, ...(spec.type === 'string' && spec.enum ? { enum: [...spec.enum] } : {}) }])),
    ...(t.versionDetail ? { versionDetail: { field: t.versionDetail.field, description: t.versionDetail.description } } : {}),
    ...(t.pullCommand
      ? {
          pull: {
            byTag: t.pullCommand(ctx, PLACEHOLDERS.artifact, { tag: PLACEHOLDERS.tag }),
            byDigest: t.pullCommand(ctx, PLACEHOLDERS.artifact, { digest: PLACEHOLDERS.digest }),
          },
        }
      : {}),
  }));
}

export function packageTypeRoutes(app: FastifyInstance, types: readonly PackageTypeSpec[], baseUrl: string): void {
  // The formats and the base URL are fixed for the life of the process: render once.
  const body = { items: packageTypeViews(types, baseUrl) };
  app.get('/package-types', { schema: { response: withErrors({ 200: packageTypeListSchema }) } }, async () => body);
}
