/**
 * Every config in examples/ loads: no unknown keys, every value of the right type.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from './config.js';
import { formatConfigSections } from '../formats/index.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

describe('example configs', () => {
  for (const file of readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'))) {
    it(`${file} loads`, () => {
      const config = loadConfig({ file: join(EXAMPLES, file), env: {}, sections: formatConfigSections() });
      assert.ok(config.port > 0);
    });
  }

  it('the scale-out example runs on PostgreSQL and S3 with GC on a schedule', () => {
    const config = loadConfig({ file: join(EXAMPLES, 'scale-out.yaml'), env: {} });
    assert.equal(config.storage, 's3');
    assert.match(config.database.url, /^postgres:/);
    assert.ok(config.gc.intervalSeconds > 0);
  });
});
