/**
 * End to end with skopeo against a real `pallet serve` whose metadata lives in PostgreSQL
 * (`PALLET_E2E_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`), in a schema
 * of its own that is dropped afterwards. PostgreSQL runs on every developer machine and in CI
 * (`.ci/run` starts it when it is down), so an unreachable database fails the suite.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { image, type BuiltImage } from '../fixtures/images.js';
import { createDockerRegistry } from '../helpers/api.js';
import { blobList, readLayout, refDescriptor } from '../helpers/layout.js';
import { DATABASE_URL, withClient } from '../helpers/postgres.js';
import { useServer } from '../helpers/server.js';
import { Skopeo } from '../helpers/skopeo.js';
import { dropSchemaLocked } from '../../src/metadata/test-databases.js';

const SCHEMA = `pallet_e2e_${randomBytes(6).toString('hex')}`;

describe('skopeo against Pallet (PostgreSQL metadata)', () => {
  const server = useServer({
    label: 'e2e-skopeo-postgres',
    env: { PALLET_DATABASE_URL: DATABASE_URL, PALLET_DATABASE_SCHEMA: SCHEMA },
  });
  let work: string;
  let skopeo: Skopeo;
  let app: BuiltImage;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'pallet-e2e-pg-'));
    skopeo = new Skopeo({ username: 'admin', password: server().adminPassword });
    await createDockerRegistry(server(), 'acme', 'docker-local');
    app = await image().file('/hello.txt', 'hello from postgres\n').platform('linux', 'amd64').build(join(work, 'app'), '1');
  });

  // Registered after useServer's hook, so it runs once the server has stopped.
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
    await withClient((client) => dropSchemaLocked(client, SCHEMA));
  });

  it('pushes and pulls back an identical image with the metadata in its own schema', async () => {
    const ref = Skopeo.ref(server().host, 'acme/docker-local/app', '1');
    await skopeo.copy(app.ref, ref, { preserveDigests: true });
    const pulledDir = join(work, 'pulled');
    await skopeo.copy(ref, `oci:${pulledDir}:1`);

    const pulled = await readLayout(pulledDir);
    assert.equal(refDescriptor(pulled, '1').digest, app.digest);
    assert.deepEqual(blobList(pulled), blobList(await readLayout(app.layout)));
    assert.deepEqual(await skopeo.listTags(`docker://${server().host}/acme/docker-local/app`), ['1']);

    const tables = await withClient((client) =>
      client.query<{ n: string }>('SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1', [SCHEMA]),
    );
    assert.ok(Number(tables.rows[0]?.n) > 0, `the server created its tables in schema ${SCHEMA}`);
  });
});
