/**
 * A fast reader for the plain subset of block YAML that machine-written documents use (what
 * go-yaml writes for `helm repo index`): block mappings with simple keys, block sequences,
 * one-line plain, single- and double-quoted scalars, plain scalars folded over several lines,
 * `[]` and `{}`, and comment lines. It answers `undefined` for anything else (anchors, aliases,
 * tags, block scalars, flow collections, numbers, duplicate keys, `__proto__`, tabs …), and the
 * caller then uses the full parser (`parse-core.ts`) for that piece.
 *
 * Why: the `yaml` package costs ~0.5 µs a byte, so a 40 MB index took ~20 s even in pieces;
 * this reader is linear at a few ns a byte. Whatever it accepts, it reads as the `yaml`
 * package's core schema does (block-yaml.test.ts compares both on the same inputs).
 */

/** Deepest nesting this reader follows; deeper pieces go to the full parser. */
const MAX_DEPTH = 24;

const SIMPLE_KEY = /^(?:[A-Za-z0-9_][A-Za-z0-9_.\/-]*|"[^"\\]*"|'[^']*')$/;
/** Plain scalars the core schema reads as something else than a string. */
const NUMBER = /^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const WORDS: Record<string, null | boolean> = { '~': null, null: null, Null: null, NULL: null, true: true, True: true, TRUE: true, false: false, False: false, FALSE: false };
/** A plain scalar may not start with these (indicators), nor contain ": ", " #" or a tab. */
const INDICATOR = /^[-?:,[\]{}#&*!|>'"%@`]/;

class Unsupported extends Error {}
const unsupported = new Unsupported();

interface Line {
  indent: number;
  /** The line without its indentation and trailing spaces. */
  text: string;
}

function lex(source: string): Line[] {
  const out: Line[] = [];
  for (const raw of source.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    let indent = 0;
    while (line.charCodeAt(indent) === 32) indent += 1;
    const text = line.slice(indent).trimEnd();
    if (text.includes('\t')) throw unsupported;
    // Blank and comment lines carry nothing here (a comment inside a folded scalar ends it,
    // which the full parser handles: see `plain`).
    if (text === '' || text.startsWith('#')) out.push({ indent: -1, text });
    else out.push({ indent, text });
  }
  return out;
}

function scalar(text: string): unknown {
  if (text === '[]') return [];
  if (text === '{}') return {};
  const first = text.charCodeAt(0);
  if (first === 34 /* " */) {
    if (text.length < 2 || !text.endsWith('"')) throw unsupported;
    try {
      // JSON's escapes mean the same in YAML; YAML-only ones (\x, \e, \N …) fail here.
      return JSON.parse(text) as string;
    } catch {
      throw unsupported;
    }
  }
  if (first === 39 /* ' */) {
    if (text.length < 2 || !text.endsWith("'")) throw unsupported;
    const inner = text.slice(1, -1);
    if (inner.replace(/''/g, '').includes("'")) throw unsupported;
    return inner.replace(/''/g, "'");
  }
  if (INDICATOR.test(text) || text.includes(': ') || text.includes(' #') || text.endsWith(':')) throw unsupported;
  if (Object.hasOwn(WORDS, text)) return WORDS[text];
  if (NUMBER.test(text)) throw unsupported;
  return text;
}

function keyOf(text: string): string {
  if (!SIMPLE_KEY.test(text)) throw unsupported;
  const key = text.startsWith('"') || text.startsWith("'") ? text.slice(1, -1) : text;
  // Keys the core schema reads as numbers, booleans or null, and the keys parse-core refuses
  // (`__proto__`, `constructor`), are left to the full parser.
  if (key === '__proto__' || key === 'constructor' || key === '' || Object.hasOwn(WORDS, key) || NUMBER.test(key)) throw unsupported;
  return key;
}

/** `key: value` or `key:` → [key, value text or '']; anything else is not a mapping entry. */
function splitEntry(text: string): [string, string] | undefined {
  let colon: number;
  if (text.startsWith('"') || text.startsWith("'")) {
    const close = text.indexOf(text[0]!, 1);
    if (close < 0) return undefined;
    colon = close + 1;
    if (text[colon] !== ':') return undefined;
  } else {
    colon = text.indexOf(': ');
    if (colon < 0) colon = text.endsWith(':') ? text.length - 1 : -1;
    if (colon < 0) return undefined;
  }
  if (colon + 1 < text.length && text[colon + 1] !== ' ') return undefined;
  return [keyOf(text.slice(0, colon)), text.slice(colon + 1).trim()];
}

class Reader {
  private pos = 0;
  constructor(private readonly lines: Line[]) {}

  /** The next line with content (skipping blank and comment lines); undefined at the end. */
  private peek(): Line | undefined {
    while (this.pos < this.lines.length && this.lines[this.pos]!.indent < 0) this.pos += 1;
    return this.lines[this.pos];
  }

  document(): unknown {
    const first = this.peek();
    if (!first) throw unsupported;
    const value = this.node(first.indent, 0);
    if (this.peek()) throw unsupported;
    return value;
  }

  /** A block node whose first line is the next content line, at `indent`. */
  private node(indent: number, depth: number): unknown {
    if (depth > MAX_DEPTH) throw unsupported;
    const line = this.peek()!;
    if (line.text === '-' || line.text.startsWith('- ')) return this.sequence(indent, depth);
    return this.mapping(indent, depth);
  }

  private mapping(indent: number, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
      if (line.text === '-' || line.text.startsWith('- ')) break;
      const entry = splitEntry(line.text);
      if (!entry) throw unsupported;
      const [key, rest] = entry;
      if (Object.hasOwn(out, key)) throw unsupported;
      this.pos += 1;
      out[key] = rest === '' ? this.nested(indent, depth, true) : this.plain(rest, indent);
    }
    const next = this.peek();
    if (next && next.indent > indent) throw unsupported;
    return out;
  }

  private sequence(indent: number, depth: number): unknown[] {
    const out: unknown[] = [];
    for (let line = this.peek(); line && line.indent === indent && (line.text === '-' || line.text.startsWith('- ')); line = this.peek()) {
      const rest = line.text === '-' ? '' : line.text.slice(2).trimStart();
      if (rest === '') {
        this.pos += 1;
        out.push(this.nested(indent, depth, false));
      } else if (rest.startsWith('- ') || rest === '-') {
        throw unsupported;
      } else if (splitEntry(rest)) {
        // `- key: value`: a mapping whose first key sits two columns in (go-yaml's layout).
        const column = indent + (line.text.length - rest.length);
        this.lines[this.pos] = { indent: column, text: rest };
        out.push(this.node(column, depth + 1));
      } else {
        this.pos += 1;
        out.push(this.plain(rest, indent));
      }
    }
    const next = this.peek();
    if (next && next.indent > indent) throw unsupported;
    return out;
  }

  /** The value under `key:` / `-` with nothing after it: a deeper node, a same-column list (after a key), or null. */
  private nested(indent: number, depth: number, afterKey: boolean): unknown {
    const next = this.peek();
    if (!next) return null;
    if (next.indent > indent) return this.node(next.indent, depth + 1);
    if (afterKey && next.indent === indent && (next.text === '-' || next.text.startsWith('- '))) return this.sequence(indent, depth + 1);
    return null;
  }

  /** A scalar starting on the current line; a plain one may continue on deeper lines (folded with spaces). */
  private plain(first: string, indent: number): unknown {
    const parts = [first];
    while (this.pos < this.lines.length) {
      const line = this.lines[this.pos]!;
      if (line.indent < 0) {
        // A blank line folds to a newline, a comment ends the scalar: the full parser decides.
        let after = this.pos;
        while (after < this.lines.length && this.lines[after]!.indent < 0) after += 1;
        if (after < this.lines.length && this.lines[after]!.indent > indent) throw unsupported;
        break;
      }
      if (line.indent <= indent) break;
      if (INDICATOR.test(line.text)) throw unsupported;
      parts.push(line.text);
      this.pos += 1;
    }
    if (parts.length === 1) return scalar(first);
    const joined = parts.join(' ');
    const value = scalar(joined);
    // A folded scalar must be a plain string: quoted, numeric or keyword ones are the full parser's.
    if (typeof value !== 'string' || first.startsWith('"') || first.startsWith("'") || parts.some((p) => p.includes(': ') || p.endsWith(':'))) throw unsupported;
    return value;
  }
}

/**
 * The value of `source` when it is in the subset described above; undefined otherwise (then
 * parse it with the full parser, which also gives the error for what is not valid YAML).
 */
export function readBlockYaml(source: string): unknown {
  try {
    return new Reader(lex(source)).document();
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}
