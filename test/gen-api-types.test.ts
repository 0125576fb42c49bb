/**
 * The UI's API types (scripts/gen-api-types.ts): the committed web/generated/api-types.ts is
 * what the generator writes for the current server schemas, and the emitter turns the JSON
 * Schema the API uses into the TypeScript it means.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { generateApiTypes, OUTPUT, typeOf } from '../scripts/gen-api-types.js';

describe('generated UI API types', () => {
  it('are current (npm run gen:api-types rewrites them)', () => {
    assert.equal(readFileSync(OUTPUT, 'utf8'), generateApiTypes(), 'web/generated/api-types.ts is stale: run npm run gen:api-types');
  });

  it('name no package type or upstream source: the UI learns those at run time', () => {
    const text = generateApiTypes();
    assert.match(text, /packageType: string;/);
    assert.match(text, /source\??: string;/);
    assert.doesNotMatch(text, /"(docker|helm|dockerhub)"/);
  });

  it('emits the JSON Schema the API uses', () => {
    assert.equal(typeOf({ type: ['string', 'null'], enum: ['a', 'b'] }), '"a" | "b" | null');
    assert.equal(typeOf({ type: 'array', items: { $ref: '#/components/schemas/Space' } }), 'Space[]');
    assert.equal(typeOf({ type: 'object', additionalProperties: { type: 'string' } }), 'Record<string, string>');
    assert.equal(typeOf({ type: 'object' }), 'Record<string, unknown>');
    assert.equal(
      typeOf({ type: 'object', required: ['a'], properties: { a: { type: 'integer', description: 'An */ end' }, 'os.version': { type: 'boolean' } } }),
      '{\n  /** An *\\/ end */\n  a: number;\n  "os.version"?: boolean;\n}',
    );
    assert.equal(typeOf({ oneOf: [{ type: 'string' }, { type: 'null' }] }), 'string | null');
    assert.equal(typeOf({}), 'unknown');
  });
});
