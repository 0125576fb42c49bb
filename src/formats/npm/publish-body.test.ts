/**
 * The publish body scanner: the tarball comes out byte for byte whatever the chunking (down to
 * one byte per chunk), the rest parses to the document with the data emptied, and malformed
 * bodies are refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isPalletError } from '../../base/errors.js';
import { PublishBodyScanner } from './publish-body.js';

async function scan(body: Buffer, chunkSize: number, metadataBytes = 1 << 20): Promise<{ doc: Record<string, unknown>; files: Map<string, Buffer> }> {
  const files = new Map<string, Buffer>();
  const scanner = new PublishBodyScanner({
    metadataBytes,
    onAttachment: async (file) => {
      const parts: Buffer[] = [];
      return {
        write: async (chunk) => {
          parts.push(Buffer.from(chunk));
        },
        end: async () => {
          files.set(file, Buffer.concat(parts));
        },
      };
    },
  });
  for (let i = 0; i < body.length; i += chunkSize) await scanner.push(body.subarray(i, i + chunkSize));
  return { doc: await scanner.finish(), files };
}

const code = (expected: string) => (err: unknown) => isPalletError(err) && err.code === expected;

describe('PublishBodyScanner', () => {
  const tarball = randomBytes(1000);
  const doc = {
    _id: 'pkg',
    name: 'pkg',
    'weird "key" \\ with escapes': 'a "quoted" \\ value with ünïcödé and \u2028',
    versions: { '1.0.0': { name: 'pkg', version: '1.0.0', data: 'not an attachment', nested: [{ _attachments: { x: { data: 'still not' } } }] } },
    _attachments: { 'pkg-1.0.0.tgz': { content_type: 'application/octet-stream', data: tarball.toString('base64'), length: tarball.length } },
  };
  const body = Buffer.from(JSON.stringify(doc, null, 1));

  it('decodes the attachment and parses the rest, for every chunk size', async () => {
    for (const size of [1, 2, 3, 5, 7, 64, 4096, body.length]) {
      const { doc: parsed, files } = await scan(body, size);
      assert.deepEqual([...files.keys()], ['pkg-1.0.0.tgz'], `chunk size ${size}`);
      assert.deepEqual(files.get('pkg-1.0.0.tgz'), tarball, `chunk size ${size}`);
      const expected = structuredClone(doc);
      expected._attachments['pkg-1.0.0.tgz'].data = '';
      assert.deepEqual(parsed, expected, `chunk size ${size}`);
    }
  });

  it('keeps the decoded data out of the metadata limit', async () => {
    const big = randomBytes(300_000);
    const withBig = Buffer.from(JSON.stringify({ ...doc, _attachments: { 'pkg-1.0.0.tgz': { data: big.toString('base64') } } }));
    const { files } = await scan(withBig, 65_536, 4096);
    assert.deepEqual(files.get('pkg-1.0.0.tgz'), big);
    await assert.rejects(scan(Buffer.from(JSON.stringify({ ...doc, readme: 'x'.repeat(5000) })), 1024, 4096), code('TOO_LARGE'));
  });

  it('refuses malformed bodies', async () => {
    const attach = (data: string) => Buffer.from(JSON.stringify({ name: 'pkg', _attachments: { 'a.tgz': { data } } }));
    const bad: Array<[string, Buffer]> = [
      ['not JSON', Buffer.from('{"a": ')],
      ['an array', Buffer.from('[]')],
      ['a string', Buffer.from('"x"')],
      ['two documents', Buffer.from('{}{}')],
      ['JSON.parse errors', Buffer.from('{"a": tru}')],
      ['escapes in the data', attach('QUJD\\/')],
      ['non-base64 characters', attach('QUJD*')],
      ['padding in the middle', attach('QQ==QUJD')],
      ['a length not a multiple of 4', attach('QUJ')],
      ['two attachments with data', Buffer.from(JSON.stringify({ _attachments: { a: { data: 'QUJD' }, b: { data: 'QUJD' } } }))],
      ['deep nesting', Buffer.from(`{"a":${'['.repeat(150)}${']'.repeat(150)}}`)],
    ];
    for (const [what, input] of bad) {
      await assert.rejects(scan(input, 3), code('INVALID_ARGUMENT'), what);
    }
  });

  it('accepts padding split across chunks', async () => {
    const { files } = await scan(Buffer.from(JSON.stringify({ _attachments: { 'a.tgz': { data: 'QQ==' } } })), 1);
    assert.deepEqual(files.get('a.tgz'), Buffer.from('A'));
  });
});
