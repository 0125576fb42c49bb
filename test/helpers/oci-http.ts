/**
 * Raw OCI requests to a test Pallet as the bootstrap admin, for what skopeo cannot do (many
 * concurrent blob GETs, a client that hangs up halfway). Sends HTTP basic credentials; when the
 * server answers 401 with a Bearer challenge (auth on), fetches a token from the challenge's
 * realm with the same credentials and retries, as Docker clients do.
 */
import type { PalletServer } from './server.js';

type Target = Pick<PalletServer, 'url' | 'adminPassword'>;

function challengeParams(header: string | null): Record<string, string> | undefined {
  if (!header || !/^bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const m of header.matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!.toLowerCase()] = m[2]!;
  return params;
}

export class OciHttp {
  private readonly tokens = new Map<string, string>();

  constructor(private readonly server: Target) {}

  private get basic(): string {
    return `Basic ${Buffer.from(`admin:${this.server.adminPassword}`).toString('base64')}`;
  }

  /** `fetch` of `/v2/…` with the admin's credentials (and a token when the server asks). */
  async fetch(path: string, init: { method?: string; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
    const scope = /^\/v2\/(.+?)\/(manifests|blobs|tags)\//.exec(path)?.[1];
    const key = scope ?? '';
    const send = (authorization: string): Promise<Response> =>
      fetch(`${this.server.url}${path}`, { ...init, headers: { ...init.headers, authorization } });
    const cached = this.tokens.get(key);
    const res = await send(cached ? `Bearer ${cached}` : this.basic);
    if (res.status !== 401) return res;
    const params = challengeParams(res.headers.get('www-authenticate'));
    await res.arrayBuffer();
    if (!params?.realm) return send(this.basic);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${scope}:pull`);
    const tokenRes = await fetch(url, { headers: { authorization: this.basic } });
    if (!tokenRes.ok) throw new Error(`token request answered ${tokenRes.status}: ${await tokenRes.text()}`);
    const body = (await tokenRes.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token ?? '';
    this.tokens.set(key, token);
    return send(`Bearer ${token}`);
  }
}
