/**
 * The OCI push policy of `helm` registries (`helm push … oci://`, `helm chart push`): only chart
 * manifests get in (Helm config, one chart layer of the current or the 3.6/3.7 legacy type, an
 * optional provenance layer); Chart.yaml is read from the pushed archive and checked against
 * the repository name and tag, and the chart version is recorded once the manifest is stored.
 */
import { isPalletError, PalletError } from '../../base/errors.js';
import type { ManifestRecord, MetadataStore, RepositoryRecord } from '../../metadata/store.js';
import type { BlobService } from '../../registry/blobs.js';
import type { ParsedManifest } from '../../registry/manifest-parser.js';
import type { ManifestPolicy } from '../../registry/manifests.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import { HELM_CHART_CONTENT, HELM_CHART_PROVENANCE, HELM_CONFIG, HELM_LEGACY_CHART_CONTENT } from './media-types.js';
import { chartTag, readChartArchive, type ChartMetadata } from './chart-archive.js';
import type { ChartVersions } from './chart-versions.js';

const CHART_LAYERS = new Set([HELM_CHART_CONTENT, HELM_LEGACY_CHART_CONTENT]);

function manifestInvalid(message: string): PalletError {
  return new PalletError('MANIFEST_INVALID', `manifest invalid: ${message}`);
}

/** Limits of reading a chart archive (compressed bytes are bounded by the blob itself). */
export interface ChartArchiveLimits {
  maxUnpackedBytes?: number;
}

export class ChartPushPolicy implements ManifestPolicy {
  constructor(
    private readonly store: MetadataStore,
    private readonly versions: ChartVersions,
    private readonly blobs: BlobService,
    private readonly limits: ChartArchiveLimits = {},
  ) {}

  async check(repo: RepositoryRecord, reference: string, parsed: ParsedManifest): Promise<((manifest: ManifestRecord) => Promise<void>) | undefined> {
    const registry = await this.store.findRegistryById(repo.registryId);
    if (!registry || registry.packageType !== 'helm') return undefined;
    const notChart = `${registry.identifier} is a helm registry and holds Helm charts only`;
    if (parsed.mediaType !== OCI_MANIFEST) throw manifestInvalid(`${notChart}; got a ${parsed.mediaType} (push charts with helm push or helm chart push)`);
    const [config, ...layers] = parsed.references;
    if (!config || config.mediaType !== HELM_CONFIG) {
      throw manifestInvalid(`${notChart}: the config must be ${HELM_CONFIG}, got ${config?.mediaType ?? 'none'}`);
    }
    const charts = layers.filter((l) => CHART_LAYERS.has(l.mediaType));
    const provs = layers.filter((l) => l.mediaType === HELM_CHART_PROVENANCE);
    const other = layers.find((l) => !CHART_LAYERS.has(l.mediaType) && l.mediaType !== HELM_CHART_PROVENANCE);
    if (other) throw manifestInvalid(`${notChart}: unexpected layer type ${other.mediaType}`);
    if (charts.length !== 1) throw manifestInvalid(`${notChart}: a chart manifest has exactly one chart layer (${HELM_CHART_CONTENT}), got ${charts.length}`);
    if (provs.length > 1) throw manifestInvalid(`${notChart}: more than one provenance layer`);
    const chart = charts[0]!;
    const loc = { rootSpaceId: registry.rootSpaceId, repositoryId: repo.id };
    let metadata: ChartMetadata;
    try {
      const { stream } = await this.blobs.open(loc, chart.digest);
      metadata = await readChartArchive(stream, this.limits);
    } catch (err) {
      if (isPalletError(err, 'INVALID_ARGUMENT')) throw manifestInvalid(err.message);
      throw err;
    }
    const last = repo.name.slice(repo.name.lastIndexOf('/') + 1);
    if (last !== metadata.name) {
      throw manifestInvalid(`the chart is named ${metadata.name} but is pushed to repository ${repo.name}; push it to …/${metadata.name}`);
    }
    if (!reference.includes(':') && reference !== chartTag(metadata.version)) {
      throw manifestInvalid(`chart ${metadata.name} has version ${metadata.version} but is pushed with tag ${reference}; the tag must be ${chartTag(metadata.version)}`);
    }
    return async (manifest) => {
      const prov = provs[0];
      await this.versions.put(
        {
          registryId: registry.id,
          name: metadata.name,
          version: metadata.version,
          repositoryId: repo.id,
          manifestId: manifest.id,
          chartDigest: chart.digest,
          chartSize: chart.size,
          provDigest: prov?.digest ?? null,
          metadata,
        },
        prov?.size,
      );
    };
  }
}
