/**
 * `upstream.fileHosts`: the hosts besides an upstream's own origin that the file URLs in its
 * metadata may point at (chart URLs in a Helm index, tarball URLs in an npm packument). One
 * reading of the setting for every format: comma-separated entries, each a host name
 * (`github.com`), a host with its port (`cdn.example:8443`), or `*.suffix` (any name below
 * `suffix`, not `suffix` itself); case does not matter. Addresses are still checked by the
 * egress policy, as for every upstream connection.
 */

/** The entries of the setting's comma-separated value. */
export function parseFileHosts(value: string): string[] {
  return value
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
}

/** Whether `url`'s host is one of `hosts` (see the module header for the entry forms). */
export function fileHostListed(url: URL, hosts: readonly string[]): boolean {
  const name = url.hostname.toLowerCase();
  const withPort = url.host.toLowerCase();
  return hosts.some((entry) => {
    const e = entry.toLowerCase();
    if (e.startsWith('*.')) return name.endsWith(e.slice(1)) && name.length > e.length - 1;
    return e === name || e === withPort;
  });
}
