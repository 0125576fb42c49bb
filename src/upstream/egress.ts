/**
 * Egress policy: which network addresses Pallet may connect to on behalf of settings that users
 * control (upstream proxy URLs, the redirects and token realms their upstreams name; later
 * webhooks and chart URLs). Without it a space admin could point a proxy at the metadata service
 * of the cloud the server runs in, at the database, or at the server's own admin port.
 *
 * Refused unless the operator allow-lists them: loopback (127/8, ::1), private (10/8, 172.16/12,
 * 192.168/16, fc00::/7), link-local (169.254/16 — cloud metadata — and fe80::/10), unspecified
 * (0/8, ::), shared/CGNAT (100.64/10), multicast, broadcast and the other reserved, benchmarking
 * and documentation ranges; and every IPv6 form that embeds such an IPv4 address
 * (IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
 * `2002::/16`). Everything else counts as public and is allowed. `allowedNetworks` (addresses and
 * CIDRs, comma-separated) opens chosen ranges; an IPv6 form of an allowed IPv4 address is allowed.
 *
 * The guarantee is made where connections are made: `httpAgent()`/`httpsAgent()` build agents
 * whose every new connection (1) refuses a literal IP host that is not allowed (Node connects to
 * literals without a lookup) and (2) resolves names through `lookup`, which refuses the name when
 * ANY address it resolves to is not allowed. The address connected to is therefore always one
 * that was checked in the same resolution: DNS rebinding, redirects to another host and token
 * realms cannot get around it as long as every request goes through such an agent. `refusalOf`
 * is the configuration-time check (a clear 400 early); it is advisory, as DNS may change later.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { Agent as HttpAgent, type AgentOptions, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions, type RequestOptions as HttpsRequestOptions } from 'node:https';
import { BlockList, isIP, Socket, type LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import { PalletError } from '../base/errors.js';

/** How long the configuration-time check waits for DNS before giving up (and allowing). */
const CONFIG_LOOKUP_MS = 2_000;

type Family = 4 | 6;
type Range = [network: string, prefix: number, kind: string];

const REFUSED_V4: readonly Range[] = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared (carrier-grade NAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local (cloud metadata services live here)'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignment'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved (includes broadcast)'],
];

/** In order: the first match names the kind. Embedded-IPv4 prefixes are handled apart. */
const REFUSED_V6: readonly Range[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::', 96, 'IPv4-compatible (deprecated)'],
  ['64:ff9b:1::', 48, 'NAT64 (local use)'],
  ['100::', 64, 'discard-only'],
  ['2001:db8::', 32, 'documentation'],
  ['2001::', 23, 'IETF protocol assignment'],
  ['fc00::', 7, 'unique local (private)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local (deprecated)'],
  ['ff00::', 8, 'multicast'],
];

function blockOf(network: string, prefix: number, family: Family): BlockList {
  const list = new BlockList();
  list.addSubnet(network, prefix, family === 4 ? 'ipv4' : 'ipv6');
  return list;
}

const V4_RULES = REFUSED_V4.map(([net, prefix, kind]) => ({ list: blockOf(net, prefix, 4), kind }));
const V6_RULES = REFUSED_V6.map(([net, prefix, kind]) => ({ list: blockOf(net, prefix, 6), kind }));

/** The eight 16-bit groups of an IPv6 address (zone id removed); undefined when not one. */
export function ipv6Groups(address: string): number[] | undefined {
  const ip = address.replace(/%.*$/, '');
  if (isIP(ip) !== 6) return undefined;
  let text = ip;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (part: string | undefined): number[] => (part ? part.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const zeros = tail === undefined ? [] : new Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}

/** The IPv4 address an IPv6 address stands for (mapped, translated, NAT64, 6to4), if any. */
export function embeddedIPv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  if (!g) return undefined;
  const v4 = (hi: number, lo: number): string => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zero = (from: number, to: number): boolean => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && g[5] === 0xffff) return v4(g[6]!, g[7]!); // ::ffff:a.b.c.d
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return v4(g[6]!, g[7]!); // ::ffff:0:a.b.c.d
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return v4(g[6]!, g[7]!); // 64:ff9b::a.b.c.d
  if (g[0] === 0x2002) return v4(g[1]!, g[2]!); // 2002:aabb:ccdd::
  return undefined;
}

/** Why an address of a non-public range is special; undefined for a public address. */
function kindOf(ip: string, family: Family): string | undefined {
  const rules = family === 4 ? V4_RULES : V6_RULES;
  return rules.find((r) => r.list.check(ip, family === 4 ? 'ipv4' : 'ipv6'))?.kind;
}

/** Parses `allowedNetworks`: addresses and CIDRs separated by commas or white space. */
export function parseNetworks(value: string, setting: string): BlockList {
  const list = new BlockList();
  for (const entry of value.split(/[\s,]+/).filter(Boolean)) {
    const [address = '', prefixText, extra] = entry.split('/');
    const family = isIP(address);
    const max = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (!family || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max || prefixText === '') {
      throw new PalletError('INVALID_ARGUMENT', `config ${setting}: ${JSON.stringify(entry)} is not an IP address or CIDR (e.g. 10.0.0.0/8, fd00::/8, 127.0.0.1)`);
    }
    list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

/** A connection the policy refused; `code` lets callers tell it from network failures. */
export class EgressRefusedError extends Error {
  readonly code = 'EGRESS_REFUSED';
  constructor(
    readonly host: string,
    readonly reason: string,
  ) {
    super(`connection to ${host} refused: ${reason}`);
    this.name = 'EgressRefusedError';
  }
}

export function isEgressRefused(err: unknown): boolean {
  return err instanceof EgressRefusedError || (err as { code?: unknown } | undefined)?.code === 'EGRESS_REFUSED';
}

export interface EgressPolicyOptions {
  /** Comma-separated addresses and CIDRs that may be reached though not public (default none). */
  allowedNetworks?: string;
  /** The config key that sets `allowedNetworks`, named in refusals. */
  setting?: string;
}

export class EgressPolicy {
  private readonly allowed: BlockList;
  private readonly setting: string;

  constructor(options: EgressPolicyOptions = {}) {
    this.setting = options.setting ?? 'upstream.allowedNetworks';
    this.allowed = parseNetworks(options.allowedNetworks ?? '', this.setting);
  }

  /** Why a connection to the IP address may not be made; undefined when it may. */
  refusal(address: string): string | undefined {
    const ip = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
    const family = isIP(ip);
    if (family === 0) return `${address} is not an IP address`;
    const embedded = family === 6 ? embeddedIPv4(ip) : undefined;
    if (this.allowed.check(ip, family === 4 ? 'ipv4' : 'ipv6') || (embedded && this.allowed.check(embedded, 'ipv4'))) return undefined;
    const own = kindOf(ip, family as Family);
    const inner = embedded ? kindOf(embedded, 4) : undefined;
    const kind = own ?? (inner && `IPv6 form of a ${inner}`);
    if (!kind) return undefined;
    return `${address} is a ${kind} address; Pallet connects only to public addresses unless ${this.setting} lists the network`;
  }

  /**
   * Resolves like `dns.lookup`, but fails with `EgressRefusedError` when any address the name
   * resolves to is refused, so the address a socket then connects to is always one checked here.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) {
        callback(err, []);
        return;
      }
      for (const a of addresses) {
        const why = this.refusal(a.address);
        if (why) {
          callback(new EgressRefusedError(hostname, `${hostname} resolves to ${why}`), []);
          return;
        }
      }
      if (options.all) callback(null, addresses);
      else if (addresses[0]) callback(null, addresses[0].address, addresses[0].family);
      else callback(Object.assign(new Error(`${hostname} resolved to no address`), { code: 'ENOTFOUND' }), []);
    });
  };

  /** Why the host (a name or literal) cannot be connected to now; for an early config error. */
  async refusalOf(hostname: string): Promise<string | undefined> {
    const host = hostname.replace(/^\[|\]$/g, '');
    if (isIP(host)) return this.refusal(host);
    const resolved = await new Promise<LookupAddress[] | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), CONFIG_LOOKUP_MS);
      dnsLookup(host, { all: true }, (err, addresses) => {
        clearTimeout(timer);
        resolve(err ? undefined : addresses);
      });
    });
    for (const a of resolved ?? []) {
      const why = this.refusal(a.address);
      if (why) return `${host} resolves to ${why}`;
    }
    return undefined;
  }

  /** An HTTP agent whose every connection this policy checks (see the header). */
  httpAgent(options: AgentOptions = {}): HttpAgent {
    const policy = this;
    return new (class extends HttpAgent {
      override createConnection(args: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
        return policy.connect(args, (checked) => super.createConnection(checked, callback));
      }
    })({ ...options, lookup: this.lookup });
  }

  /** An HTTPS agent whose every connection this policy checks (see the header). */
  httpsAgent(options: HttpsAgentOptions = {}): HttpsAgent {
    const policy = this;
    return new (class extends HttpsAgent {
      override createConnection(args: HttpsRequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
        return policy.connect(args, (checked) => super.createConnection(checked, callback));
      }
    })({ ...options, lookup: this.lookup });
  }

  /**
   * Refuses a literal host that is not allowed (Node skips `lookup` for literals) with a socket
   * that fails at once; otherwise connects with `lookup` in force, whatever the request said.
   */
  private connect<T extends ClientRequestArgs>(args: T, open: (checked: T) => Duplex | null | undefined): Duplex | null | undefined {
    const host = String(args.host ?? args.hostname ?? 'localhost').replace(/^\[|\]$/g, '');
    const why = args.socketPath ? 'connections over local sockets are not allowed' : isIP(host) ? this.refusal(host) : undefined;
    if (why) {
      const socket = new Socket();
      const err = new EgressRefusedError(args.socketPath ?? host, why);
      process.nextTick(() => socket.destroy(err));
      return socket;
    }
    return open({ ...args, lookup: this.lookup });
  }
}
