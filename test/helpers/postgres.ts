/**
 * The PostgreSQL server the e2e tests use (`PALLET_E2E_DATABASE_URL`, default
 * `postgres://postgres@127.0.0.1:5432/test`) and a one-off client for inspecting it.
 */
import pg from 'pg';

export const DATABASE_URL = process.env.PALLET_E2E_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Runs `fn` with a connected client, closed afterwards. */
export async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
