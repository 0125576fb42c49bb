/**
 * Blob GETs redirected to the bucket: with the S3 driver and `s3.redirectSeconds`, a whole-blob
 * GET answers 307 to a presigned URL that serves the bytes without credentials; range GETs, HEAD
 * and blobs the repository does not hold are answered by Pallet as before. (One process over
 * s3rver on loopback.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { blob, createDockerRegistry, pushBlob, startInProcess, type Harness } from '../../test/helpers/inproc.js';
import { startS3, S3_ACCESS_KEY, S3_SECRET_KEY, type S3Server } from '../../test/helpers/s3.js';

describe('blob GETs redirected to presigned S3 URLs', () => {
  let s3: S3Server;
  let h: Harness;
  before(async () => {
    s3 = await startS3();
    h = await startInProcess({
      storage: 's3',
      s3: {
        endpoint: s3.endpoint,
        bucket: await s3.bucket('redirect'),
        region: 'us-east-1',
        accessKeyId: S3_ACCESS_KEY,
        secretAccessKey: S3_SECRET_KEY,
        forcePathStyle: true,
        redirectSeconds: 60,
      },
    });
    await createDockerRegistry(h, 'acme', 'docker-local');
  });
  after(async () => {
    await h?.close();
    await s3?.stop();
  });

  it('answers a whole-blob GET with 307 to a URL that serves the bytes', async () => {
    const b = blob(randomBytes(5000));
    assert.equal((await pushBlob(h, 'acme/docker-local/app', b)).status, 201);
    const res = await h.app.server.inject({ method: 'GET', url: `/v2/acme/docker-local/app/blobs/${b.digest}`, headers: h.auth });
    assert.equal(res.statusCode, 307);
    assert.equal(res.headers['docker-content-digest'], b.digest);
    const location = String(res.headers.location);
    assert.ok(location.startsWith(s3.endpoint), location);
    const fetched = await fetch(location);
    assert.equal(fetched.status, 200);
    assert.ok(Buffer.from(await fetched.arrayBuffer()).equals(b.data));
  });

  it('serves range GETs and HEADs itself, and redirects nothing the repository does not hold', async () => {
    const b = blob(randomBytes(100));
    assert.equal((await pushBlob(h, 'acme/docker-local/app', b)).status, 201);
    const url = `/v2/acme/docker-local/app/blobs/${b.digest}`;
    const range = await h.app.server.inject({ method: 'GET', url, headers: { ...h.auth, range: 'bytes=0-9' } });
    assert.equal(range.statusCode, 206);
    assert.ok(range.rawPayload.equals(b.data.subarray(0, 10)));
    assert.equal((await h.app.server.inject({ method: 'HEAD', url, headers: h.auth })).statusCode, 200);
    const other = await h.app.server.inject({ method: 'GET', url: `/v2/acme/docker-local/other/blobs/${b.digest}`, headers: h.auth });
    assert.equal(other.statusCode, 404);
  });
});
