/**
 * The fast block-YAML reader reads what it accepts exactly as the `yaml` package does, and
 * declines (undefined) everything outside its subset.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { readBlockYaml } from './block-yaml.js';

const SAME = [
  'a: 1x\nb: "two"\nc: \'th\'\'ree\'\nd:\ne: []\nf: {}\ng: true\nh: ~\ni: False\n',
  'list:\n- a\n- b\nnested:\n  - x: 1.0.0\n    y: "1.2"\n  - z\n',
  '  - annotations:\n      category: Infrastructure\n    apiVersion: v2\n    urls:\n    - https://example.org/x-1.0.0.tgz\n    version: 1.0.0\n',
  'description: a long description that go-yaml folds\n  over two lines and\n  three\nnext: v\n',
  '- key: "escapes \\" \\\\ \\n \\u00e9 \\/"\n  plain: a "quoted" word, with:colons and x#hash\n',
  '# comment\na:\n  # inner comment\n  b: c\n\nd: e\n',
  'deps:\n- name: common\n  tags:\n  - common\n  version: 2.x.x\n- name: other\n',
  'a:\n  -\n    b: c\n',
  '"quoted key": v\n\'single\': w\nkey.with/slash-dash_: x\n',
  'a: v\r\nb: w\r\n',
  'emoji: "\\ud83d\\ude00 é"\nutf8: ünïcödé\n',
];

const DECLINED = [
  'a: &x 1\nb: *x\n',
  'a: !!str 1\n',
  'a: |\n  block\n',
  'a: >\n  folded\n',
  'a: [1, 2]\n',
  'a: {b: c}\n',
  'a: 12\n',
  'a: 1.5\n',
  'a: 0x1f\n',
  'a: .inf\n',
  'a: 1\na: 2\n',
  '__proto__: x\n',
  'constructor:\n  prototype: x\n',
  'a: "\\x41"\n',
  'a:\tb\n',
  'a: b # comment\n',
  'a: folded\n\n  with a blank line\n',
  'a: folded\n  # then a comment\n  more\n',
  'a: "quoted\n  over lines"\n',
  '? complex\n: key\n',
  'a: b\n  c: d\n',
  '12: numeric key\n',
  'true: bool key\n',
  '- - nested\n',
  '',
  'a: b\n- c\n',
  'a:\n  b: c\n d: e\n',
];

describe('block-yaml', () => {
  it('reads its subset as the yaml package does', () => {
    for (const text of SAME) {
      const fast = readBlockYaml(text);
      assert.notEqual(fast, undefined, `declined: ${JSON.stringify(text)}`);
      assert.deepEqual(fast, parse(text), JSON.stringify(text));
    }
  });

  it('declines what is outside its subset', () => {
    for (const text of DECLINED) assert.equal(readBlockYaml(text), undefined, JSON.stringify(text));
  });

  it('reads a helm repo index entry without the full parser', async () => {
    const { indexEntryYaml } = await import('../../test/fixtures/helm-index.js');
    const text = indexEntryYaml('chart-00001', '1.0.3', { baseUrl: 'https://charts.example' });
    assert.deepEqual(readBlockYaml(text), parse(text));
  });
});
