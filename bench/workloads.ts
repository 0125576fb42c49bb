/**
 * The workloads, each run against one registry at a time with the identical request sequence.
 * Every workload verifies each response (see `oci-client.ts`) and throws on the first failure;
 * a measurement is only returned for a fully successful run.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, OciClient } from './oci-client.js';
import type { Payload } from './payload.js';
import { runWrk, type WrkResult } from './wrk.js';

export interface SmallBlob {
  data: Buffer;
  digest: string;
}

export function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Bytes per second in MB/s (10^6 bytes). */
function mbPerSecond(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

async function timed(work: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

/** POST + one PUT of the whole payload; MB/s. */
export async function monolithicUpload(oci: OciClient, payload: Payload): Promise<number> {
  const digest = await payload.digest();
  const ms = await timed(() => oci.pushMonolithic(digest, payload.bytes, () => payload.stream()));
  return mbPerSecond(payload.bytes, ms);
}

/** POST + PATCH chunks + PUT with no body; MB/s. */
export async function chunkedUpload(oci: OciClient, payload: Payload, chunkBytes: number): Promise<number> {
  const digest = await payload.digest();
  const ms = await timed(() => oci.pushChunked(digest, payload.bytes, chunkBytes, (start, end) => payload.stream(start, end)));
  return mbPerSecond(payload.bytes, ms);
}

/** GET of a blob pushed before, body read fully and discarded; MB/s. */
export async function blobGet(oci: OciClient, payload: Payload): Promise<number> {
  const digest = await payload.digest();
  const ms = await timed(() => oci.pullBlob(digest, payload.bytes));
  return mbPerSecond(payload.bytes, ms);
}

/** Monolithic POST + PUT of each small blob with `concurrency` uploads in flight; uploads/s. */
export async function smallUploads(oci: OciClient, blobs: SmallBlob[], concurrency: number): Promise<number> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < blobs.length) {
      const blob = blobs[next++]!;
      try {
        await oci.pushMonolithic(blob.digest, blob.data.length, blob.data);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const ms = await timed(async () => {
    await Promise.all(Array.from({ length: concurrency }, worker));
  });
  return blobs.length / (ms / 1000);
}

export interface Image {
  config: SmallBlob;
  layer: SmallBlob;
  manifest: Buffer;
  digest: string;
}

/** A small OCI image: a config blob and one layer. */
export function makeImage(layerData: Buffer): Image {
  const configData = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layerData)] } }));
  const config = { data: configData, digest: sha256(configData) };
  const layer = { data: layerData, digest: sha256(layerData) };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: configData.length },
      layers: [{ mediaType: OCI_LAYER, digest: layer.digest, size: layerData.length }],
    }),
  );
  return { config, layer, manifest, digest: sha256(manifest) };
}

/** Pushes the image under `tag` and checks that GET by tag returns it. */
export async function pushImage(oci: OciClient, image: Image, tag: string): Promise<void> {
  for (const blob of [image.config, image.layer]) await oci.pushMonolithic(blob.digest, blob.data.length, blob.data);
  await oci.putManifest(tag, image.manifest, image.digest);
  const res = await oci.getManifest(tag);
  if (!res.body.equals(image.manifest)) throw new Error(`GET manifest ${tag}: the body differs from the manifest pushed`);
}

/** wrk: GET manifest by tag with the OCI Accept header, 16 connections, 2 threads. */
export async function manifestGetLoad(oci: OciClient, tag: string, seconds: number): Promise<WrkResult> {
  return runWrk({ url: oci.manifestUrl(tag), seconds, connections: 16, threads: 2, headers: { ...oci.http.defaultHeaders, Accept: OCI_MANIFEST } });
}
