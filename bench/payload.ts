/**
 * Deterministic, streamed benchmark payloads. A payload is `bytes` long and made of 1 MiB
 * blocks: one base block filled from a seeded xorshift PRNG, each block stamped with its index
 * and the seed in its first 8 bytes so no two blocks (and no two payloads) are equal. Nothing
 * ever holds more than one block plus the stream's buffer, so a 1 GiB payload costs the client a
 * few MiB; its sha256 is computed in one streamed pass before any timed run.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

export const MiB = 1024 * 1024;
const BLOCK = MiB;

function baseBlock(seed: number): Buffer {
  const block = Buffer.allocUnsafe(BLOCK);
  // xorshift32: fast, deterministic, and good enough to defeat any compression or dedupe.
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < BLOCK; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block.writeUInt32LE(x >>> 0, i);
  }
  return block;
}

export class Payload {
  private readonly base: Buffer;
  private sha256: string | undefined;

  constructor(
    readonly seed: number,
    readonly bytes: number,
  ) {
    this.base = baseBlock(seed);
  }

  /** A fresh copy of block `index` (a fresh buffer, since a socket may still hold the last one). */
  private block(index: number): Buffer {
    const out = Buffer.allocUnsafe(BLOCK);
    this.base.copy(out);
    out.writeUInt32LE(index, 0);
    out.writeUInt32LE(this.seed >>> 0, 4);
    return out;
  }

  /** Streams bytes [start, end) of the payload in blocks of at most 1 MiB. */
  stream(start = 0, end = this.bytes): Readable {
    let pos = start;
    const block = (index: number): Buffer => this.block(index);
    return new Readable({
      highWaterMark: 2 * BLOCK,
      read() {
        if (pos >= end) {
          this.push(null);
          return;
        }
        const index = Math.floor(pos / BLOCK);
        const from = pos - index * BLOCK;
        const to = Math.min(BLOCK, end - index * BLOCK);
        pos += to - from;
        const whole = block(index);
        this.push(from === 0 && to === BLOCK ? whole : whole.subarray(from, to));
      },
    });
  }

  /** `sha256:<hex>` of the whole payload, computed once by streaming it. */
  async digest(): Promise<string> {
    if (this.sha256 === undefined) {
      const hash = createHash('sha256');
      for await (const chunk of this.stream()) hash.update(chunk as Buffer);
      this.sha256 = `sha256:${hash.digest('hex')}`;
    }
    return this.sha256;
  }
}
