/**
 * The client address of a request, which the failed-login throttle, the audit log and the
 * access log key on. Setting: `server.trustProxy`, a comma-separated list of addresses and
 * CIDRs (`10.0.0.0/8, 127.0.0.1, fd00::/8`) of reverse proxies whose `X-Forwarded-For` is
 * believed. Empty (the default) trusts nobody: the client address is the TCP peer's, and a
 * client cannot choose its address by sending the header.
 *
 * Algorithm (as proxy-addr, which Fastify uses): start from the peer; while the current
 * address is a trusted proxy, step to the next address of `X-Forwarded-For` from the right.
 * The first untrusted address (or the leftmost one) is the client. So a client behind a
 * trusted proxy cannot pose as another address by prepending to the header, and the header
 * of an untrusted peer is ignored.
 *
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) match IPv4 entries.
 */
import { BlockList, isIP } from 'node:net';
import { PalletError } from './errors.js';

/** Whether an address is one of the trusted proxies. */
export type ProxyTrust = (address: string) => boolean;

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

function normalize(address: string): string {
  const mapped = MAPPED_V4.exec(address);
  return mapped ? mapped[1]! : address;
}

function invalid(entry: string): PalletError {
  return new PalletError('INVALID_ARGUMENT', `config server.trustProxy: ${JSON.stringify(entry)} is not an IP address or CIDR (e.g. 10.0.0.0/8, 127.0.0.1, fd00::/8)`, {
    field: 'server.trustProxy',
  });
}

/** The trust of `server.trustProxy`; undefined when it names nobody. INVALID_ARGUMENT for a bad entry. */
export function parseTrustProxy(value: string): ProxyTrust | undefined {
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const [ip = '', bits, ...rest] = entry.split('/');
    const family = isIP(normalize(ip));
    if (family === 0 || rest.length > 0) throw invalid(entry);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) {
      list.addAddress(normalize(ip), type);
      continue;
    }
    const prefix = Number(bits);
    if (!/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) throw invalid(entry);
    list.addSubnet(normalize(ip), prefix, type);
  }
  return (address) => {
    const a = normalize(address.trim());
    const family = isIP(a);
    return family !== 0 && list.check(a, family === 4 ? 'ipv4' : 'ipv6');
  };
}

/** Fastify's `trustProxy` option for the setting (false: trust nobody). */
export function trustProxyOption(value: string): false | ((address: string, hop: number) => boolean) {
  const trust = parseTrustProxy(value);
  return trust ? (address) => trust(address) : false;
}

/** The client address of a request from `peer` carrying `forwardedFor` (see the algorithm above). */
export function clientAddress(peer: string, forwardedFor: string | undefined, trust: ProxyTrust | undefined): string {
  if (!trust || !forwardedFor) return peer;
  const hops = forwardedFor
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  let address = peer;
  while (trust(address) && hops.length > 0) address = hops.pop()!;
  return address;
}
