/**
 * Records and deletes chart versions, whichever way they arrived (OCI push, ChartMuseum upload,
 * cached from a classic upstream): the one place that writes a chart row, so that every version
 * also records its files as the core's package files (`registry/package-files.ts`).
 *
 * Order on a write: package files first (the chart archive and its provenance file, which GC
 * then keeps whether or not an OCI manifest references them), then the chart row. A crash
 * between the two on a new version leaves package files without a row: harmless (the files
 * stay live until the version is written again or its registry goes). On a replacement
 * (`?force`) it leaves the row naming the previous archive while the package files name the
 * new one: the previous archive then stays only while its OCI manifest holds it, and a retry
 * of the upload repairs the row. On a delete: the row, then the files.
 */
import type { PackageFile, PackageFileService } from '../../registry/package-files.js';
import { chartFileName } from './chart-index.js';
import type { HelmStore, NewChartVersion } from './store/helm-store.js';

export class ChartVersions {
  constructor(
    private readonly helm: HelmStore,
    private readonly packageFiles: PackageFileService,
  ) {}

  /** Records a chart version; `provSize` is the provenance file's size when it has one. */
  async put(row: NewChartVersion, provSize?: number): Promise<void> {
    const file = chartFileName(row.name, row.version);
    const files: PackageFile[] = [{ path: file, digest: row.chartDigest, size: row.chartSize }];
    if (row.provDigest !== null && provSize !== undefined) files.push({ path: `${file}.prov`, digest: row.provDigest, size: provSize });
    await this.packageFiles.record({ registryId: row.registryId, artifact: row.name, version: row.version, repositoryId: row.repositoryId, manifestId: row.manifestId, files });
    await this.helm.putChartVersion(row);
  }

  /** Deletes a chart version's row, then hands its files to GC. */
  async delete(registryId: string, name: string, version: string): Promise<void> {
    await this.helm.deleteChartVersion(registryId, name, version);
    await this.packageFiles.remove({ registryId, artifact: name, version });
  }
}
