/**
 * The bounded parser: the same answers inline and in a worker, every limit refused with its
 * name, a parse over its time budget stopped, and the inline path's worst cases measured with
 * monitorEventLoopDelay (the bound that justifies parsing small documents without a worker).
 */
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { INLINE_BYTES, parseBounded, parseJsonBounded, parseYamlBounded, type ParseLimits } from './bounded-parse.js';
import { isPalletError } from './errors.js';

const LIMITS: ParseLimits = { maxBytes: 4 * 1024 * 1024, maxNodes: 50_000, maxDepth: 20, maxAliases: 10, timeoutMs: 10_000 };
const bytes = (text: string): Buffer => Buffer.from(text);

async function refusal(promise: Promise<unknown>): Promise<{ code: string; limit: unknown; message: string }> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isPalletError(err), String(err));
    return { code: err.code, limit: err.detail?.limit, message: err.message };
  }
  assert.fail('the document was accepted');
}

/** `keys` map entries, padded with a long string so the document is at least `minBytes`. */
function yamlMap(keys: number, minBytes = 0): string {
  const lines = Array.from({ length: keys }, (_, i) => `key${i}: value${i}`);
  const text = `${lines.join('\n')}\n`;
  return text.length >= minBytes ? text : `${text}pad: "${'x'.repeat(minBytes - text.length)}"\n`;
}

describe('bounded parsing', () => {
  it('gives the same value inline and in a worker', async () => {
    const small = yamlMap(10);
    const large = yamlMap(10, INLINE_BYTES.yaml + 1000);
    assert.ok(Buffer.byteLength(small) <= INLINE_BYTES.yaml && Buffer.byteLength(large) > INLINE_BYTES.yaml);
    const inline = (await parseYamlBounded(bytes(small), LIMITS)) as Record<string, unknown>;
    const worker = (await parseYamlBounded(bytes(large), LIMITS)) as Record<string, unknown>;
    assert.equal(inline.key9, 'value9');
    assert.equal(worker.key9, 'value9');
    assert.equal((worker.pad as string).length > 1000, true);
    const json = { a: [1, 2, { b: 'c' }], pad: 'y'.repeat(INLINE_BYTES.json) };
    assert.deepEqual(await parseJsonBounded(bytes(JSON.stringify(json)), LIMITS), json);
  });

  it('refuses each limit by name, inline and in a worker', async () => {
    for (const pad of [0, INLINE_BYTES.json + 10]) {
      const filler = pad ? `,"pad":"${'x'.repeat(pad)}"` : '';
      const deep = `${'['.repeat(25)}${']'.repeat(25)}`;
      assert.equal((await refusal(parseJsonBounded(bytes(`{"d":${deep}${filler}}`), LIMITS))).limit, 'depth');
      const many = `[${Array.from({ length: 60_000 }, () => '0').join(',')}]`;
      assert.equal((await refusal(parseJsonBounded(bytes(many), LIMITS))).limit, 'nodes');
      assert.equal((await refusal(parseJsonBounded(bytes(`{"a":1${filler}`), LIMITS))).limit, 'syntax');
      assert.equal((await refusal(parseJsonBounded(bytes(`{"__proto__":{"x":1}${filler}}`), LIMITS))).limit, 'syntax');
      assert.equal((await refusal(parseJsonBounded(bytes(`{"constructor":{"prototype":{}}${filler}}`), LIMITS))).limit, 'syntax');
    }
    const tooLarge = await refusal(parseJsonBounded(bytes('[1]'), { ...LIMITS, maxBytes: 2 }));
    assert.equal(tooLarge.code, 'TOO_LARGE');
  });

  it('refuses YAML duplicate keys, complex keys, alias bombs and deep nesting', async () => {
    assert.match((await refusal(parseYamlBounded(bytes('a: 1\nb: 2\na: 3\n'), LIMITS))).message, /repeats the map key "a"/);
    assert.equal((await refusal(parseYamlBounded(bytes('? [a, b]\n: 1\n'), LIMITS))).limit, 'syntax');
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i += 1) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`);
    const limit = (await refusal(parseYamlBounded(bytes(bomb.join('\n')), { ...LIMITS, maxAliases: 100 }))).limit;
    assert.ok(limit === 'aliases' || limit === 'nodes' || limit === 'syntax', String(limit));
    assert.equal((await refusal(parseYamlBounded(bytes(`${'['.repeat(30)}${']'.repeat(30)}`), LIMITS))).limit, 'depth');
    assert.equal((await refusal(parseYamlBounded(bytes(yamlMap(60_000)), LIMITS))).limit, 'nodes');
  });

  it('finds duplicate keys among 20k keys without pairwise comparison', async () => {
    const text = `${yamlMap(19_999)}key7: again\n`;
    assert.match((await refusal(parseYamlBounded(bytes(text), LIMITS))).message, /repeats the map key "key7"/);
  });

  it('stops a worker that exceeds its time budget, and the next document still parses', async () => {
    const slow = await refusal(parseYamlBounded(bytes(yamlMap(20_000)), { ...LIMITS, timeoutMs: 1 }));
    assert.equal(slow.limit, 'time');
    assert.deepEqual(await parseYamlBounded(bytes(yamlMap(3, INLINE_BYTES.yaml + 10)), LIMITS).then((v) => Object.keys(v as object).length), 4);
  });

  it('parses the worst inline-sized documents without a long event-loop delay', async () => {
    const cases: Array<[string, 'json' | 'yaml', string]> = [
      ['yaml many keys', 'yaml', yamlMap(120)],
      ['yaml flow list', 'yaml', `[${Array(INLINE_BYTES.yaml / 2 - 2).fill('1').join(',')}]`],
      ['yaml block list', 'yaml', '- a\n'.repeat(INLINE_BYTES.yaml / 4 - 1)],
      ['yaml nesting', 'yaml', `${'['.repeat(19)}${']'.repeat(19)}\n${'#'.repeat(INLINE_BYTES.yaml - 60)}`],
      ['yaml multi-line scalar', 'yaml', `a: |\n${'  line\n'.repeat(Math.floor(INLINE_BYTES.yaml / 7) - 2)}`],
      ['json tiny values', 'json', `[${Array(INLINE_BYTES.json / 2 - 2).fill('0').join(',')}]`],
      ['json tiny objects', 'json', `[${Array(Math.floor(INLINE_BYTES.json / 3) - 2).fill('{}').join(',')}]`],
    ];
    const limits: ParseLimits = { ...LIMITS, maxNodes: 40_000 };
    for (const [label, format, text] of cases) {
      const input = bytes(text);
      assert.ok(input.length <= INLINE_BYTES[format], `${label}: ${input.length} bytes`);
      await parseBounded(format, input, limits).catch(() => undefined); // warm up
      // What the machine's load alone does to an idle loop over the same span, just before.
      const idle = monitorEventLoopDelay({ resolution: 1 });
      idle.enable();
      for (let i = 0; i < 5; i += 1) await new Promise((r) => setTimeout(r, 5));
      idle.disable();
      const baseline = Math.round(idle.max / 1e5) / 10;
      const histogram = monitorEventLoopDelay({ resolution: 1 });
      histogram.enable();
      for (let i = 0; i < 5; i += 1) {
        await parseBounded(format, input, limits).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 5));
      }
      histogram.disable();
      const max = Math.round(histogram.max / 1e5) / 10;
      console.log(`# inline ${label} (${input.length} bytes): max event-loop delay ${max} ms (idle baseline ${baseline} ms)`);
      // Generous, over the idle baseline (a loaded machine stalls an idle loop by tens of ms);
      // the measured figure is the point.
      assert.ok(max < 200 + baseline, `${label}: ${max} ms (idle baseline ${baseline} ms)`);
    }
  });
});
