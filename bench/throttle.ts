/**
 * A TCP relay that caps what flows from a server to its clients at `mbps` MB/s per connection,
 * to give a loopback upstream the bandwidth of a real one (Docker Hub, a registry across a WAN).
 * Requests flow unthrottled. Used by `bench/proxy.ts` when BENCH_PROXY_UPSTREAM_MBPS is set, in
 * front of the upstream for both the straight and the proxied pulls.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Lets bytes through no faster than `bytesPerSecond`, in slices of at most 64 KiB, with no burst
 * after an idle spell (a keep-alive connection reused later starts at the cap, not above it).
 */
class RateLimit extends Transform {
  private next = 0;
  constructor(private readonly bytesPerSecond: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    void this.pace(chunk).then(() => callback(), callback);
  }
  private async pace(chunk: Buffer): Promise<void> {
    for (let i = 0; i < chunk.length; i += 64 * 1024) {
      const slice = chunk.subarray(i, i + 64 * 1024);
      const now = Date.now();
      if (this.next < now) this.next = now;
      const wait = this.next - now;
      if (wait > 1) await sleep(wait);
      this.push(slice);
      this.next += (slice.length / this.bytesPerSecond) * 1000;
    }
  }
}

export interface Throttle {
  url: string;
  close(): Promise<void>;
}

export async function startThrottle(target: URL, mbps: number): Promise<Throttle> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(new RateLimit(mbps * 1e6)).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
