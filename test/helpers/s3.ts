/**
 * A real S3-compatible server on loopback for tests: s3rver (Koa over a temp directory), which
 * speaks the S3 REST API with SigV4 authentication (access key and secret `S3RVER`). It does not
 * implement UploadPartCopy, so tests there exercise the S3 driver's streaming fallback.
 *
 * One fix makes it as faithful as S3 where Pallet relies on it: s3rver writes a PUT straight
 * into the object's file and answers before the bytes are flushed, so concurrent PUTs of one key
 * mix and a GET right after a PUT may read a partial object. `atomicPuts()` replaces its store's
 * putObject with write-to-temp-then-rename, answered after the rename (S3's semantics).
 *
 * `startS3()` starts one in this process; `bucket()` creates a fresh bucket for a test or run.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import FilesystemStore from 's3rver/lib/stores/filesystem.js';

let patched = false;

/** See the module header: PUTs become atomic and are answered once the object is in place. */
function atomicPuts(): void {
  if (patched) return;
  patched = true;
  FilesystemStore.prototype.putObject = async function putObject(this: FilesystemStore, object) {
    const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(objectPath), { recursive: true });
    const tmp = `${objectPath}.${randomUUID()}.tmp`;
    const md5 = createHash('md5');
    let size = 0;
    const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        md5.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(source, measure, createWriteStream(tmp));
      await rename(tmp, objectPath);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const hex = md5.digest('hex');
    await this.putMetadata(object.bucket, object.key, object.metadata, hex);
    return { size, md5: hex };
  };
}

export const S3_ACCESS_KEY = 'S3RVER';
export const S3_SECRET_KEY = 'S3RVER';

export interface S3Server {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  /** Creates a bucket with a fresh name and resolves to the name. */
  bucket(label?: string): Promise<string>;
  /** The environment a `pallet serve` child needs to use `bucket` on this server. */
  env(bucket: string): Record<string, string>;
  stop(): Promise<void>;
}

export async function startS3(): Promise<S3Server> {
  atomicPuts();
  const directory = await mkdtemp(join(tmpdir(), 'pallet-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
  });
  let stopped = false;
  return {
    endpoint,
    async bucket(label = 'test') {
      const name = `${label}-${randomBytes(6).toString('hex')}`;
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    env(bucket) {
      return {
        PALLET_STORAGE: 's3',
        PALLET_S3_ENDPOINT: endpoint,
        PALLET_S3_BUCKET: bucket,
        PALLET_S3_REGION: 'us-east-1',
        PALLET_S3_ACCESS_KEY_ID: S3_ACCESS_KEY,
        PALLET_S3_SECRET_ACCESS_KEY: S3_SECRET_KEY,
        PALLET_S3_FORCE_PATH_STYLE: 'true',
      };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
