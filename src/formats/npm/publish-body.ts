/**
 * Reads the body of `PUT /<package>` (what `npm publish`, `npm deprecate` and `npm unpublish`
 * send) as a stream, without holding the tarball as one string and without blocking the event
 * loop: a JSON scanner made for this one document shape, written here because no streaming
 * JSON tokenizer is among the project's dependencies and this needs only a small part of one.
 *
 * The body is a JSON object. Every byte of it is copied into a bounded metadata buffer, except
 * the content of the string at `_attachments.<file>.data` (the tarball, base64): that string is
 * base64-decoded as it arrives and handed, chunk by chunk, to `onAttachment`'s sink (which
 * hashes and stores it with backpressure); in the metadata buffer it becomes `""`. Once the
 * body has ended the metadata buffer (now small) is parsed (`parseJsonBounded`: in a worker when
 * it is large, within a number of values), which also checks that the whole document is valid
 * JSON and has no `__proto__` key. So:
 *
 *   bytes ─┬─ structure, keys, other values ──► metadata buffer (≤ metadataBytes) ─► JSON.parse
 *          └─ _attachments.*.data (base64) ──► decoder ──► sink (hash, blob upload session)
 *
 * The scanner only tracks what it needs to find that path: the container stack, the last key of
 * each object, and whether it is inside a string (and after a backslash). Strings are scanned
 * with `indexOf` for `"` and `\`, so the per-byte work stays in native code. In UTF-8 neither
 * byte occurs inside a multi-byte sequence, so scanning bytes is safe.
 *
 * Refused with INVALID_ARGUMENT (nothing stored: the caller cancels the sink): a body that is
 * not a JSON object, an attachment whose data is not plain base64 (escapes, other characters,
 * padding in the middle), more than one attachment with data, nesting deeper than 100. TOO_LARGE: metadata over its
 * limit, or a whole body over the body limit (checked by the caller from the bytes read).
 */
import { parseJsonBounded } from '../../base/bounded-parse.js';
import { isPalletError, PalletError } from '../../base/errors.js';

/** Where the decoded bytes of one attachment go. */
export interface AttachmentSink {
  /** Takes decoded bytes; resolves when more may be written (backpressure). */
  write(chunk: Buffer): Promise<void>;
  /** The attachment's data string ended. */
  end(): Promise<void>;
}

export interface PublishBodyOptions {
  /** Most bytes of the body outside attachment data (the JSON that gets parsed). */
  metadataBytes: number;
  /** Called when an attachment's data string starts; `file` is its key under `_attachments`. */
  onAttachment(file: string): Promise<AttachmentSink>;
}

interface Frame {
  kind: 'object' | 'array';
  /** The last key read in this object (undefined in arrays and before the first key). */
  key?: string;
  /** In an object: the next string is a key. */
  expectKey: boolean;
}

/** Deepest nesting accepted (package.json documents nest a few levels; this bounds the stack). */
const MAX_DEPTH = 100;
/** Keys longer than this are never ones the scanner looks for: they are not collected. */
const MAX_KEY_BYTES = 1024;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function invalid(message: string): PalletError {
  return new PalletError('INVALID_ARGUMENT', `malformed publish body: ${message}`);
}

/**
 * One pass over a publish body. Feed it the body's chunks in order with `push` (awaiting each:
 * it waits for the attachment sink), then call `finish` for the parsed document.
 */
export class PublishBodyScanner {
  readonly #options: PublishBodyOptions;
  readonly #stack: Frame[] = [];
  readonly #meta: Buffer[] = [];
  #metaBytes = 0;
  /** Metadata bytes of the current chunk not yet copied (a view into it). */
  #pending: Buffer | undefined;
  /** Inside a string: 'key' (collecting), 'value' (copying), 'data' (decoding); undefined outside. */
  #string: 'key' | 'value' | 'data' | undefined;
  #escaped = false;
  #keyBytes: Buffer[] = [];
  #keyLength = 0;
  #started = false;
  #ended = false;
  #sink: AttachmentSink | undefined;
  /** Base64 characters not yet decoded (fewer than 4). */
  #carry = '';
  /** The last decoded group had padding: the data must end there. */
  #padded = false;
  #attachments = 0;

  constructor(options: PublishBodyOptions) {
    this.#options = options;
  }

  /** Scans one chunk of the body. */
  async push(chunk: Buffer): Promise<void> {
    let i = 0;
    while (i < chunk.length) {
      if (this.#string !== undefined) {
        i = await this.#inString(chunk, i);
        continue;
      }
      const start = i;
      // Outside strings: structure bytes one by one until a string starts (numbers, literals,
      // whitespace and punctuation are copied as they are).
      while (i < chunk.length && this.#string === undefined) {
        this.#structure(chunk[i]!);
        i++;
      }
      this.#copy(chunk.subarray(start, i));
    }
    this.#flush();
  }

  /** The parsed document, once every chunk was pushed. */
  async finish(): Promise<Record<string, unknown>> {
    if (this.#string !== undefined || this.#stack.length > 0 || !this.#ended) throw invalid('the body ends inside the document');
    this.#flush();
    // Bounded: a few MB of tiny values took JSON.parse seconds on the event loop; documents over
    // a few KB are parsed in a worker, within a count of values proportional to the limit.
    const bytes = Buffer.concat(this.#meta, this.#metaBytes);
    const limits = { maxBytes: Math.max(this.#options.metadataBytes, bytes.length), maxNodes: Math.max(10_000, Math.floor(this.#options.metadataBytes / 16)), maxDepth: MAX_DEPTH + 1, maxAliases: 0, timeoutMs: 10_000 };
    let parsed: unknown;
    try {
      parsed = await parseJsonBounded(bytes, limits);
    } catch (err) {
      if (isPalletError(err, 'INVALID_ARGUMENT')) throw invalid(err.message);
      throw err;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid('the body is not a JSON object');
    return parsed as Record<string, unknown>;
  }

  #copy(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#metaBytes += bytes.length;
    if (this.#metaBytes > this.#options.metadataBytes) {
      throw new PalletError('TOO_LARGE', `the package metadata exceeds the limit of ${this.#options.metadataBytes} bytes`, { limit: this.#options.metadataBytes });
    }
    // Adjacent pieces of one chunk (structure, keys, values) are kept as one view and copied
    // once per chunk, not once per string.
    const pending = this.#pending;
    if (pending && pending.buffer === bytes.buffer && pending.byteOffset + pending.length === bytes.byteOffset) {
      this.#pending = Buffer.from(pending.buffer, pending.byteOffset, pending.length + bytes.length);
      return;
    }
    this.#flush();
    this.#pending = bytes;
  }

  #flush(): void {
    if (this.#pending) this.#meta.push(Buffer.from(this.#pending));
    this.#pending = undefined;
  }

  /** One byte outside any string. */
  #structure(byte: number): void {
    const top = this.#stack[this.#stack.length - 1];
    switch (byte) {
      case 0x7b: // {
      case 0x5b: // [
        if (this.#ended) throw invalid('content after the document');
        if (!this.#started && byte !== 0x7b) throw invalid('the body is not a JSON object');
        this.#started = true;
        if (this.#stack.length >= MAX_DEPTH) throw invalid(`the document nests deeper than ${MAX_DEPTH} levels`);
        this.#stack.push({ kind: byte === 0x7b ? 'object' : 'array', expectKey: byte === 0x7b });
        return;
      case 0x7d: // }
      case 0x5d: // ]
        this.#stack.pop();
        if (this.#stack.length === 0 && this.#started) this.#ended = true;
        return;
      case 0x2c: // ,
        if (top?.kind === 'object') top.expectKey = true;
        return;
      case 0x3a: // :
        if (top?.kind === 'object') top.expectKey = false;
        return;
      case QUOTE:
        if (!this.#started || this.#ended) throw invalid('the body is not a JSON object');
        if (top?.kind === 'object' && top.expectKey) {
          this.#string = 'key';
          this.#keyBytes = [];
          this.#keyLength = 0;
        } else {
          this.#string = this.#isAttachmentData() ? 'data' : 'value';
        }
        return;
      case 0x20:
      case 0x0a:
      case 0x0d:
      case 0x09:
        return;
      default:
        if (!this.#started || this.#ended) throw invalid('the body is not a JSON object');
    }
  }

  /** The value about to start is `_attachments.<file>.data` at the top level. */
  #isAttachmentData(): boolean {
    const s = this.#stack;
    return s.length === 3 && s[0]!.key === '_attachments' && s[1]!.kind === 'object' && s[2]!.kind === 'object' && s[2]!.key === 'data';
  }

  /** Scans inside a string from `i`; returns where scanning goes on. */
  async #inString(chunk: Buffer, i: number): Promise<number> {
    if (this.#string === 'data') return this.#inData(chunk, i);
    const start = i;
    while (i < chunk.length) {
      if (this.#escaped) {
        this.#escaped = false;
        i++;
        continue;
      }
      const quote = chunk.indexOf(QUOTE, i);
      const slash = chunk.indexOf(BACKSLASH, i);
      if (slash !== -1 && (quote === -1 || slash < quote)) {
        this.#escaped = true;
        i = slash + 1;
        continue;
      }
      if (quote === -1) {
        i = chunk.length;
        break;
      }
      i = quote + 1;
      const kind = this.#string;
      this.#string = undefined;
      this.#stringPart(chunk.subarray(start, i), kind);
      if (kind === 'key') this.#endKey();
      return i;
    }
    this.#stringPart(chunk.subarray(start, i), this.#string);
    return i;
  }

  #stringPart(bytes: Buffer, kind: 'key' | 'value' | 'data' | undefined): void {
    this.#copy(bytes);
    if (kind === 'key' && this.#keyLength <= MAX_KEY_BYTES) {
      this.#keyBytes.push(Buffer.from(bytes));
      this.#keyLength += bytes.length;
    }
  }

  #endKey(): void {
    const top = this.#stack[this.#stack.length - 1]!;
    if (this.#keyLength > MAX_KEY_BYTES + 1) {
      top.key = undefined;
      return;
    }
    // The collected bytes are the key's JSON text without its opening quote.
    try {
      top.key = JSON.parse(`"${Buffer.concat(this.#keyBytes).toString('utf8')}`) as string;
    } catch {
      throw invalid('a key is not a valid JSON string');
    }
  }

  /** Inside an attachment's base64 data: decode and hand to the sink, until the closing quote. */
  async #inData(chunk: Buffer, i: number): Promise<number> {
    if (!this.#sink) {
      this.#attachments++;
      if (this.#attachments > 1) throw invalid('more than one attachment carries data');
      this.#sink = await this.#options.onAttachment(this.#stack[1]!.key ?? '');
    }
    const quote = chunk.indexOf(QUOTE, i);
    const end = quote === -1 ? chunk.length : quote;
    await this.#decode(chunk.toString('latin1', i, end));
    if (quote === -1) return chunk.length;
    if (this.#carry.length > 0) throw invalid('attachment data is not base64 (its length is not a multiple of 4)');
    this.#string = undefined;
    this.#copy(Buffer.from('"'));
    const sink = this.#sink;
    this.#sink = undefined;
    await sink.end();
    return quote + 1;
  }

  /**
   * Decodes whole 4-character groups and checks them by encoding the bytes back (native code
   * both ways, far cheaper than a per-character check): any character outside the alphabet,
   * padding before the end or stray bits make the two differ. Only one final group may pad.
   */
  async #decode(text: string): Promise<void> {
    if (text.length === 0) return;
    if (this.#padded) throw invalid('attachment data is not plain base64 (data after the padding)');
    const all = this.#carry + text;
    const usable = all.length - (all.length % 4);
    this.#carry = all.slice(usable);
    if (usable === 0) return;
    const groups = usable === all.length ? all : all.slice(0, usable);
    const bytes = Buffer.from(groups, 'base64');
    if (bytes.toString('base64') !== groups) throw invalid('attachment data is not plain base64');
    this.#padded = groups.endsWith('=');
    await this.#sink!.write(bytes);
  }
}
