/**
 * Connection and body limits on a real listening server, driven with raw sockets: a PATCH that
 * trickles or stalls is cut and its upload session stays resumable at its last complete chunk,
 * a fast multi-MiB upload passes under the same limits, and one address cannot hold more than
 * `server.maxConnectionsPerAddress` sockets.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { digestOf } from '../../src/base/digest.js';
import { startInProcess, type Harness } from '../helpers/inproc.js';

const REPO = 'acme/images/app';
const MAX_CONNECTIONS = 4;
/** How long a test waits for the server to act before calling it a failure (not a timing assertion). */
const PATIENCE_MS = 30_000;

interface RawResponse {
  status: number;
  headers: string;
  closed: boolean;
}

/** A socket that collects what it receives; `response()` resolves at the first full head, or at close. */
function open(port: number): Promise<{ socket: Socket; response(): Promise<RawResponse> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let closed = false;
    const waiters: Array<() => void> = [];
    const wake = () => waiters.splice(0).forEach((w) => w());
    socket.on('data', (c: Buffer) => {
      received += c.toString('latin1');
      wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      wake();
    });
    socket.once('connect', () =>
      resolve({
        socket,
        response: () =>
          new Promise<RawResponse>((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`no answer within ${PATIENCE_MS} ms; got ${JSON.stringify(received.slice(0, 100))}`)), PATIENCE_MS);
            const check = () => {
              const end = received.indexOf('\r\n\r\n');
              if (end >= 0 || closed) {
                clearTimeout(timer);
                const head = end >= 0 ? received.slice(0, end) : '';
                received = end >= 0 ? received.slice(end + 4) : received;
                done({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head, closed });
              } else waiters.push(check);
            };
            check();
          }),
      }),
    );
    socket.once('error', reject);
  });
}

describe('server limits on connections and request bodies', () => {
  let h: Harness;
  let port: number;

  before(async () => {
    h = await startInProcess({
      server: { bodyIdleTimeoutSeconds: 2, minBodyBytesPerSecond: 4096, minBodyRateWindowSeconds: 3, maxConnectionsPerAddress: MAX_CONNECTIONS },
    });
    await h.app.server.listen({ host: '127.0.0.1', port: 0 });
    const address = h.app.server.server.address();
    assert.ok(address && typeof address === 'object');
    port = address.port;
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'images', packageType: 'docker', kind: 'local' })).status, 201);
  });

  after(async () => {
    await h?.close();
  });

  const auth = () => h.auth.authorization!;

  async function startUpload(): Promise<string> {
    const res = await h.app.server.inject({ method: 'POST', url: `/v2/${REPO}/blobs/uploads/`, headers: h.auth });
    assert.equal(res.statusCode, 202, res.body);
    return String(res.headers.location);
  }

  async function patch(location: string, data: Buffer, start: number): Promise<number> {
    const res = await h.app.server.inject({
      method: 'PATCH',
      url: location,
      payload: data,
      headers: { ...h.auth, 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + data.length - 1}` },
    });
    assert.equal(res.statusCode, 202, res.body);
    return Number(String(res.headers.range).split('-')[1]) + 1;
  }

  async function offset(location: string): Promise<number> {
    const res = await h.app.server.inject({ method: 'GET', url: location, headers: h.auth });
    assert.equal(res.statusCode, 204, res.body);
    return Number(String(res.headers.range).split('-')[1]) + 1;
  }

  /** Sends a PATCH head announcing `length` bytes, then `feed` decides how the body goes. */
  async function rawPatch(location: string, start: number, length: number, feed: (socket: Socket) => Promise<void>): Promise<RawResponse> {
    const conn = await open(port);
    conn.socket.write(
      `PATCH ${location} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth()}\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Length: ${length}\r\nContent-Range: ${start}-${start + length - 1}\r\n\r\n`,
    );
    try {
      const answer = conn.response();
      await feed(conn.socket);
      return await answer;
    } finally {
      conn.socket.destroy();
    }
  }

  it('cuts a PATCH that trickles below the minimum rate; the session resumes from its last chunk', async () => {
    const first = randomBytes(64 * 1024);
    const rest = randomBytes(32 * 1024);
    const location = await startUpload();
    const size = await patch(location, first, 0);
    assert.equal(size, first.length);
    let stop = false;
    const res = await rawPatch(location, size, rest.length, async (socket) => {
      void (async () => {
        for (let i = 0; i < rest.length && !stop && !socket.destroyed; i += 1) {
          socket.write(rest.subarray(i, i + 1));
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
    }).finally(() => {
      stop = true;
    });
    assert.ok(res.status === 408 || (res.status === 0 && res.closed), `expected a 408 or a closed socket, got ${res.status}`);
    assert.equal(await offset(location), first.length, 'the cut chunk left no bytes behind');
    assert.equal(await patch(location, rest, first.length), first.length + rest.length);
    const digest = digestOf(Buffer.concat([first, rest]));
    const done = await h.app.server.inject({ method: 'PUT', url: `${location}?digest=${digest}`, headers: h.auth });
    assert.equal(done.statusCode, 201, done.body);
  });

  it('cuts a PATCH that stops sending', async () => {
    const location = await startUpload();
    const data = randomBytes(1000);
    const res = await rawPatch(location, 0, data.length, async (socket) => {
      socket.write(data.subarray(0, 10));
    });
    assert.ok(res.status === 408 || (res.status === 0 && res.closed), `expected a 408 or a closed socket, got ${res.status}`);
    // The session is still empty: the whole chunk from offset 0 is taken, and completes.
    assert.equal(await patch(location, data, 0), data.length);
    const done = await h.app.server.inject({ method: 'PUT', url: `${location}?digest=${digestOf(data)}`, headers: h.auth });
    assert.equal(done.statusCode, 201, done.body);
  });

  it('lets a fast multi-MiB upload through the same limits', async () => {
    const data = randomBytes(24 * 1024 * 1024);
    const location = await startUpload();
    const res = await rawPatch(location, 0, data.length, async (socket) => {
      for (let i = 0; i < data.length; i += 256 * 1024) {
        if (!socket.write(data.subarray(i, i + 256 * 1024))) await new Promise((r) => socket.once('drain', r));
      }
    });
    assert.equal(res.status, 202, res.headers);
    assert.equal(await offset(location), data.length);
  });

  it(`refuses the connection after ${MAX_CONNECTIONS} from one address, and takes one again when a socket closes`, async () => {
    const held = [];
    for (let i = 0; i < MAX_CONNECTIONS; i += 1) {
      const conn = await open(port);
      conn.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      assert.equal((await conn.response()).status, 200, `connection ${i + 1}`);
      held.push(conn);
    }
    const extra = await open(port);
    extra.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const refused = await extra.response();
    assert.ok(refused.status === 503 || (refused.status === 0 && refused.closed), `expected 503 or a closed socket, got ${refused.status}`);
    held.pop()!.socket.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const again = await open(port);
    again.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.equal((await again.response()).status, 200);
    for (const conn of [...held, again, extra]) conn.socket.destroy();
  });
});
