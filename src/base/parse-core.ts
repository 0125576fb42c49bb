/**
 * The parsing itself, shared by the inline fast path and the parse worker (see
 * bounded-parse.ts): JSON and YAML text to plain values, refused when they exceed the limits.
 *
 * Costs, and why each check is where it is:
 * - JSON: `JSON.parse` is native and linear; the shape (values, depth) is counted after it,
 *   iteratively, stopping at the cap (so a deep document cannot overflow the stack).
 * - YAML: the `yaml` package checks duplicate keys pairwise (quadratic: 100k keys took minutes),
 *   so `uniqueKeys` is off and duplicates are found here with one Set per map (linear). Tokens
 *   are counted by the lexer first, stopping at a cap derived from `maxNodes`, so a document of
 *   many tiny values is refused before it is composed. Aliases are bounded by `maxAliases`
 *   and by counting the expanded value's nodes (a "billion laughs" expands past `maxNodes`).
 * Errors are PalletError INVALID_ARGUMENT (TOO_LARGE for bytes) with `detail.limit` naming what
 * was exceeded; callers re-word them for their surface.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, Lexer, parseDocument } from 'yaml';
import { PalletError } from './errors.js';

export interface ParseLimits {
  /** Largest input in bytes; TOO_LARGE beyond it. */
  maxBytes: number;
  /** Most values in the document: scalars, maps and lists (YAML aliases counted expanded). */
  maxNodes: number;
  /** Deepest nesting of maps and lists. */
  maxDepth: number;
  /** YAML only: most alias nodes (`*anchor`). */
  maxAliases: number;
  /** Longest a parse worker may spend on one document before it is stopped. */
  timeoutMs: number;
}

export type DocumentFormat = 'json' | 'yaml';

/** Lexer tokens allowed per value: a value and its indicator, space and line break. */
const TOKENS_PER_NODE = 8;

function refuse(message: string, limit: string, detail: Record<string, unknown> = {}): PalletError {
  return new PalletError('INVALID_ARGUMENT', message, { limit, ...detail });
}

export function checkSize(bytes: number, limits: ParseLimits): void {
  if (bytes > limits.maxBytes) {
    throw new PalletError('TOO_LARGE', `the document is larger than ${limits.maxBytes} bytes`, { limit: 'bytes', maxBytes: limits.maxBytes });
  }
}

/** `{"constructor": {"prototype": …}}`: refused like `__proto__` (prototype poisoning). */
function isConstructorPoison(v: object): boolean {
  const c: unknown = Object.hasOwn(v, 'constructor') ? (v as { constructor: unknown }).constructor : undefined;
  return c !== null && typeof c === 'object' && Object.hasOwn(c, 'prototype');
}

/**
 * Counts the values of a parsed document without recursion; throws when there are more than
 * `maxNodes` or they nest deeper than `maxDepth`, or when a map has a `__proto__` key (as
 * Fastify's own JSON parser does: code that copies such a map could change a prototype). Pending values are counted too, so the work
 * list never outgrows the cap.
 */
export function checkShape(value: unknown, limits: Pick<ParseLimits, 'maxNodes' | 'maxDepth'>): void {
  const values: unknown[] = [value];
  const depths: number[] = [1];
  let counted = 1;
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > limits.maxDepth) throw refuse(`the document nests deeper than ${limits.maxDepth} levels`, 'depth', { maxDepth: limits.maxDepth });
    if (!Array.isArray(v) && (Object.hasOwn(v, '__proto__') || isConstructorPoison(v))) {
      throw refuse('the document has a "__proto__" or "constructor.prototype" key', 'syntax');
    }
    const children = Array.isArray(v) ? (v as unknown[]) : Object.values(v as Record<string, unknown>);
    counted += children.length;
    if (counted > limits.maxNodes) throw refuse(`the document has more than ${limits.maxNodes} values`, 'nodes', { maxNodes: limits.maxNodes });
    for (const child of children) {
      values.push(child);
      depths.push(depth + 1);
    }
  }
}

export function parseJsonText(text: string, limits: ParseLimits): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw refuse(`not valid JSON (${err instanceof Error ? err.message : String(err)})`, 'syntax');
  }
  checkShape(value, limits);
  return value;
}

/** Walks the YAML syntax tree: nodes, depth and duplicate keys, one Set per map. */
function checkYamlTree(root: unknown, limits: ParseLimits): void {
  const nodes: unknown[] = [root];
  const depths: number[] = [1];
  let counted = 1;
  let aliases = 0;
  const push = (node: unknown, depth: number): void => {
    counted += 1;
    if (counted > limits.maxNodes) throw refuse(`the document has more than ${limits.maxNodes} values`, 'nodes', { maxNodes: limits.maxNodes });
    nodes.push(node);
    depths.push(depth);
  };
  while (nodes.length > 0) {
    const node = nodes.pop();
    const depth = depths.pop()!;
    if (isAlias(node)) {
      aliases += 1;
      if (aliases > limits.maxAliases) throw refuse(`the document has more than ${limits.maxAliases} aliases`, 'aliases', { maxAliases: limits.maxAliases });
      continue;
    }
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > limits.maxDepth) throw refuse(`the document nests deeper than ${limits.maxDepth} levels`, 'depth', { maxDepth: limits.maxDepth });
    if (isSeq(node)) {
      for (const item of node.items) push(item, depth + 1);
      continue;
    }
    const keys = new Set<string>();
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key: unknown = pair.key;
      if (key !== null && !isScalar(key)) throw refuse('the document has a map key that is not a plain value', 'syntax');
      const name = key === null ? '' : String(key.value);
      if (keys.has(name)) throw refuse(`the document repeats the map key ${JSON.stringify(name)}`, 'syntax');
      keys.add(name);
      push(pair.value, depth + 1);
    }
  }
}

export function parseYamlText(text: string, limits: ParseLimits): unknown {
  const maxTokens = limits.maxNodes * TOKENS_PER_NODE;
  let tokens = 0;
  for (const _token of new Lexer().lex(text)) {
    tokens += 1;
    if (tokens > maxTokens) throw refuse(`the document has more than ${limits.maxNodes} values`, 'nodes', { maxNodes: limits.maxNodes });
  }
  let value: unknown;
  try {
    const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false });
    const first = doc.errors[0];
    if (first) throw refuse(`not valid YAML (${first.message.split('\n')[0]})`, 'syntax');
    checkYamlTree(doc.contents, limits);
    value = doc.toJS({ maxAliasCount: limits.maxAliases });
  } catch (err) {
    if (err instanceof PalletError) throw err;
    throw refuse(`not valid YAML (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`, 'syntax');
  }
  checkShape(value, limits);
  return value;
}

/** UTF-8, malformed sequences replaced; a byte-order mark is kept (JSON refuses it, YAML skips it). */
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

export function parseBytes(format: DocumentFormat, bytes: Uint8Array, limits: ParseLimits): unknown {
  checkSize(bytes.byteLength, limits);
  const text = decoder.decode(bytes);
  return format === 'json' ? parseJsonText(text, limits) : parseYamlText(text, limits);
}
