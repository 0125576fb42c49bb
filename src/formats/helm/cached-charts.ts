/**
 * Chart archives cached from a classic upstream become versions of the proxy like any other:
 * recorded as the OCI manifest an upload makes (listed as cached, pullable over OCI too), with
 * Chart.yaml read from the cached archive. When it cannot be read or disagrees with the upstream
 * index's name and version, the chart is still recorded (without a manifest) with the index's
 * fields, so it is served from the cache.
 */
import { Readable } from 'node:stream';
import { digestOf } from '../../base/digest.js';
import { isPalletError } from '../../base/errors.js';
import type { RepositoryRecord, SpaceRecord } from '../../metadata/store.js';
import type { BlobService } from '../../registry/blobs.js';
import type { ManifestService } from '../../registry/manifests.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import { HELM_CHART_CONTENT, HELM_CONFIG } from './media-types.js';
import { chartTag, readChartArchive, type ChartMetadata } from './chart-archive.js';
import type { ChartArchiveLimits } from './chart-push-policy.js';
import type { ChartVersions } from './chart-versions.js';

export class CachedCharts {
  constructor(
    private readonly versions: ChartVersions,
    private readonly blobs: BlobService,
    private readonly manifests: ManifestService,
    private readonly limits: ChartArchiveLimits = {},
  ) {}

  /**
   * Records a chart archive cached from a classic upstream (already committed and linked to
   * `repo`, a repository of the proxy) as the OCI manifest an upload makes, so it is a version
   * of the proxy like any other (listed as cached, pullable over OCI too). When its Chart.yaml
   * cannot be read or disagrees with the upstream index's name and version, the chart is still
   * recorded (without a manifest) with the index's fields, so it is served from the cache.
   */
  async record(root: SpaceRecord, repo: RepositoryRecord, chart: { digest: string; size: number }, name: string, version: string, fallback: Record<string, unknown>): Promise<void> {
    const loc = { rootSpaceId: root.id, repositoryId: repo.id };
    let metadata: ChartMetadata | undefined;
    try {
      const { stream } = await this.blobs.open(loc, chart.digest);
      metadata = await readChartArchive(stream, this.limits);
    } catch (err) {
      if (!isPalletError(err, 'INVALID_ARGUMENT')) throw err;
    }
    const { manifests } = this;
    if (metadata && metadata.name === name && metadata.version === version) {
      const config = Buffer.from(JSON.stringify(metadata));
      const configDigest = digestOf(config);
      await this.blobs.putBlob(loc, configDigest, Readable.from([config]), { length: config.length });
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: HELM_CONFIG, digest: configDigest, size: config.length },
          layers: [{ mediaType: HELM_CHART_CONTENT, digest: chart.digest, size: chart.size }],
        }),
      );
      try {
        await manifests.put(repo, chartTag(version), OCI_MANIFEST, manifest);
        return;
      } catch (err) {
        if (!isPalletError(err, 'MANIFEST_INVALID')) throw err;
      }
    }
    await this.versions.put({
      registryId: repo.registryId,
      name,
      version,
      repositoryId: repo.id,
      manifestId: null,
      chartDigest: chart.digest,
      chartSize: chart.size,
      provDigest: null,
      metadata: metadata ? { ...metadata } : fallback,
    });
  }
}
