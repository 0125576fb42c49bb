/**
 * The egress policy: which addresses count as public, what the allow-list opens, and that its
 * agents refuse before connecting (checked against a real server on 127.0.0.1 that counts
 * connections).
 */
import assert from 'node:assert/strict';
import { createServer, get, type Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { isPalletError } from '../base/errors.js';
import { EgressPolicy, embeddedIPv4, isEgressRefused, parseNetworks } from './egress.js';

const REFUSED: Array<[string, RegExp]> = [
  ['127.0.0.1', /loopback/],
  ['127.255.0.9', /loopback/],
  ['::1', /loopback/],
  ['0.0.0.0', /unspecified/],
  ['::', /unspecified/],
  ['10.20.30.40', /private/],
  ['172.16.0.1', /private/],
  ['172.31.255.255', /private/],
  ['192.168.0.1', /private/],
  ['fd12:3456::1', /unique local/],
  ['169.254.169.254', /link-local/],
  ['fe80::1', /link-local/],
  ['fe80::1%eth0', /link-local/],
  ['100.64.0.1', /carrier-grade NAT/],
  ['224.0.0.251', /multicast/],
  ['ff02::1', /multicast/],
  ['255.255.255.255', /broadcast/],
  ['::ffff:127.0.0.1', /IPv6 form of a loopback/],
  ['::ffff:7f00:1', /IPv6 form of a loopback/],
  ['::ffff:169.254.169.254', /IPv6 form of a link-local/],
  ['::ffff:0:10.0.0.1', /IPv6 form of a private/],
  ['64:ff9b::a9fe:a9fe', /IPv6 form of a link-local/],
  ['2002:7f00:1::', /IPv6 form of a loopback/],
  ['::127.0.0.1', /IPv4-compatible/],
  ['2001:db8::1', /documentation/],
];

const PUBLIC = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::'];

describe('EgressPolicy', () => {
  it('refuses loopback, private, link-local, CGNAT, unspecified, multicast and reserved addresses, and their IPv6 forms', () => {
    const policy = new EgressPolicy();
    for (const [address, kind] of REFUSED) {
      const why = policy.refusal(address);
      assert.ok(why, `${address} is refused`);
      assert.match(why, kind, address);
      assert.match(why, /upstream\.allowedNetworks/, 'the refusal names the setting');
    }
    for (const address of PUBLIC) assert.equal(policy.refusal(address), undefined, `${address} is public`);
  });

  it('opens exactly the allow-listed networks, IPv6 forms of allowed IPv4 addresses included', () => {
    const policy = new EgressPolicy({ allowedNetworks: '127.0.0.1/32, 10.1.0.0/16 fd00:1::/64' });
    for (const address of ['127.0.0.1', '::ffff:127.0.0.1', '10.1.200.3', 'fd00:1::5']) assert.equal(policy.refusal(address), undefined, address);
    for (const address of ['127.0.0.2', '10.2.0.1', 'fd00:2::1', '::1', '169.254.169.254']) assert.ok(policy.refusal(address), address);
  });

  it('rejects an allow-list entry that is not an address or CIDR, naming the setting', () => {
    for (const bad of ['localhost', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/8/1', 'fd00::/129', '300.1.1.1']) {
      assert.throws(() => parseNetworks(bad, 'upstream.allowedNetworks'), (err) => isPalletError(err, 'INVALID_ARGUMENT') && /upstream\.allowedNetworks/.test(err.message), bad);
    }
    assert.doesNotThrow(() => parseNetworks(' 10.0.0.0/8 , ::1,,192.168.1.1 ', 'x'));
  });

  it('reads the IPv4 address inside mapped, translated, NAT64 and 6to4 IPv6 addresses', () => {
    assert.equal(embeddedIPv4('::ffff:7f00:1'), '127.0.0.1');
    assert.equal(embeddedIPv4('::ffff:0:a00:1'), '10.0.0.1');
    assert.equal(embeddedIPv4('64:ff9b::192.168.0.1'), '192.168.0.1');
    assert.equal(embeddedIPv4('2002:a9fe:a9fe:1::1'), '169.254.169.254');
    assert.equal(embeddedIPv4('2606:4700::1111'), undefined);
    assert.equal(embeddedIPv4('10.0.0.1'), undefined);
  });

  it('says at configuration time why a literal or a name that resolves to a refused address would be refused', async () => {
    const policy = new EgressPolicy();
    assert.match((await policy.refusalOf('[::ffff:127.0.0.1]')) ?? '', /IPv6 form of a loopback/);
    assert.match((await policy.refusalOf('localhost')) ?? '', /localhost resolves to 127\.0\.0\.1 is a loopback address/);
    assert.equal(await policy.refusalOf('no-such-host.invalid'), undefined, 'an unresolvable name is left to the connect-time check');
    assert.equal(await new EgressPolicy({ allowedNetworks: '127.0.0.1/32, ::1' }).refusalOf('localhost'), undefined);
  });

  it('gives agents that refuse a literal or resolved non-public address before connecting', async () => {
    let connections = 0;
    const server = createServer((_req, res) => res.end('ok'));
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const fetchVia = (agent: Agent, host: string): Promise<string> =>
      new Promise((resolve, reject) => {
        get({ host, port, path: '/', agent }, (res) => {
          res.setEncoding('utf8');
          let body = '';
          res.on('data', (chunk: string) => (body += chunk)).on('end', () => resolve(body));
        }).on('error', reject);
      });
    const strict = new EgressPolicy().httpAgent();
    const open = new EgressPolicy({ allowedNetworks: '127.0.0.1/32' }).httpAgent();
    try {
      for (const host of ['127.0.0.1', 'localhost', '::ffff:127.0.0.1', '127.1']) {
        await assert.rejects(fetchVia(strict, host), (err) => isEgressRefused(err), host);
      }
      assert.equal(connections, 0, 'the refused requests never connected');
      assert.equal(await fetchVia(open, '127.0.0.1'), 'ok');
      assert.equal(connections, 1);
    } finally {
      strict.destroy();
      open.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
