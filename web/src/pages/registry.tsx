/**
 * A registry's page: its header (Setup Client, and Delete in the menu beside it) and tabs
 * Artifacts | Configuration. Under Artifacts: the artifact list → an artifact's versions → one
 * version. Every list is paged and sorted by the server.
 */
import { useEffect, useId, useState } from 'react';
import { api, enc, query, registryPath, type Artifact, type ArtifactList, type Registry, type Version, type VersionDetail, type VersionList } from '../api.js';
import { bytes, count, hostPath, shortDigest, when } from '../format.js';
import { pullCommand, usePackageTypes } from '../package-types.js';
import { Link, navigate, useLocation } from '../router.js';
import { Command, DataTable, ErrorBanner, Labels, Menu, Pager, TypeIcon, useAsync, type SortState } from '../ui.js';
import { DeleteRegistryDialog } from '../dialogs/delete-registry.js';
import { SetupClientPanel } from '../dialogs/setup-client.js';
import { ConfigurationTab } from './configuration.js';

export function RegistryPage({ root, identifier, rest, onSpace }: { root: string; identifier: string; rest: string[]; onSpace: (space: string) => void }) {
  const base = registryPath({ root, identifier });
  const reg = useAsync(() => api<Registry>('GET', base), [base]);
  const [panel, setPanel] = useState<'setup' | 'delete' | null>(null);
  const registry = reg.data;
  useEffect(() => {
    if (registry) onSpace(registry.space);
  }, [registry, onSpace]);

  const tab = rest[0] === 'configuration' ? 'configuration' : 'artifacts';
  const artifact = rest[0] === 'artifacts' ? rest[1] : undefined;
  const version = rest[0] === 'artifacts' && rest[2] === 'versions' ? rest[3] : undefined;

  if (reg.error && !registry) {
    return (
      <section>
        <ErrorBanner error={reg.error} />
        <Link to="/">Back to registries</Link>
      </section>
    );
  }
  if (!registry) return <p role="status">Loading…</p>;

  return (
    <section aria-labelledby="registry-title">
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to={`/?space=${enc(registry.space)}`}>Registries</Link>
        <span aria-hidden="true">/</span>
        <Link to={base}>{registry.identifier}</Link>
        {artifact && (
          <>
            <span aria-hidden="true">/</span>
            <Link to={`${base}/artifacts/${enc(artifact)}`}>{artifact}</Link>
          </>
        )}
        {version && (
          <>
            <span aria-hidden="true">/</span>
            <span aria-current="page">{shortDigest(version)}</span>
          </>
        )}
      </nav>
      <div className="page-head">
        <TypeIcon type={registry.packageType} />
        <h1 id="registry-title">{registry.identifier}</h1>
        <span className="badge">{registry.kind === 'local' ? 'Registry' : 'Upstream proxy'}</span>
        <Labels labels={registry.labels} />
        <span className="grow" />
        <button type="button" className="primary" onClick={() => setPanel('setup')}>
          Setup Client
        </button>
        <Menu label={`More actions for ${registry.identifier}`} items={[{ label: 'Delete', danger: true, onSelect: () => setPanel('delete') }]} />
      </div>
      <p className="muted summary">
        {registry.description && <span>{registry.description} · </span>}
        <span>{hostPath(registry.url)}</span> · {count(registry.artifactCount)} artifacts · {bytes(registry.sizeBytes)} · {count(registry.downloadCount)} downloads
      </p>

      <div role="tablist" aria-label="Registry sections" className="tabs">
        <Tab to={base} selected={tab === 'artifacts'}>
          Artifacts
        </Tab>
        <Tab to={`${base}/configuration`} selected={tab === 'configuration'}>
          Configuration
        </Tab>
      </div>
      <div role="tabpanel" aria-label={tab === 'artifacts' ? 'Artifacts' : 'Configuration'}>
        {tab === 'configuration' ? (
          <ConfigurationTab registry={registry} onSaved={reg.reload} />
        ) : version && artifact ? (
          <VersionView registry={registry} artifact={artifact} version={version} />
        ) : artifact ? (
          <VersionsList registry={registry} artifact={artifact} />
        ) : (
          <ArtifactsList registry={registry} />
        )}
      </div>

      {panel === 'setup' && <SetupClientPanel registry={registry} onClose={() => setPanel(null)} />}
      {panel === 'delete' && (
        <DeleteRegistryDialog registry={registry} onClose={() => setPanel(null)} onDeleted={() => navigate(`/?space=${enc(registry.space)}`)} />
      )}
    </section>
  );
}

function Tab({ to, selected, children }: { to: string; selected: boolean; children: string }) {
  return (
    <Link to={to} role="tab" aria-selected={selected} className={selected ? 'tab selected' : 'tab'}>
      {children}
    </Link>
  );
}

/** Paging and sort kept in the URL's query. */
function useListParams(defaultSort: string, defaultOrder: 'asc' | 'desc') {
  const { query: params, path } = useLocation();
  const state = {
    q: params.get('q') ?? '',
    sort: params.get('sort') ?? defaultSort,
    order: (params.get('order') ?? defaultOrder) as 'asc' | 'desc',
    page: Math.max(1, Number(params.get('page')) || 1),
    size: Number(params.get('size')) || 50,
  };
  const update = (changes: Partial<typeof state>, replace = false): void => {
    const next = { ...state, ...changes };
    navigate(
      path +
        query({
          q: next.q,
          sort: next.sort === defaultSort ? undefined : next.sort,
          order: next.order === defaultOrder ? undefined : next.order,
          page: next.page === 1 ? undefined : next.page,
          size: next.size === 50 ? undefined : next.size,
        }),
      { replace },
    );
  };
  return { ...state, update };
}

function SearchBox({ value, onSearch, label }: { value: string; onSearch: (q: string) => void; label: string }) {
  const [text, setText] = useState(value);
  const id = useId();
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text === value) return undefined;
    const timer = setTimeout(() => onSearch(text), 250);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [text]);
  return (
    <div className="toolbar" role="search">
      <label htmlFor={id} className="sr-only">
        {label}
      </label>
      <input id={id} type="search" placeholder={label} value={text} onChange={(e) => setText(e.target.value)} />
    </div>
  );
}

function ArtifactsList({ registry }: { registry: Registry }) {
  const p = useListParams('name', 'asc');
  const type = usePackageTypes().find(registry.packageType);
  const pull = (name: string, reference: string): string | null => pullCommand(type, registry, name, reference);
  const base = registryPath(registry);
  const list = useAsync(
    () => api<ArtifactList>('GET', `${base}/artifacts${query({ q: p.q, sort: p.sort, order: p.order, page: p.page, size: p.size })}`),
    [base, p.q, p.sort, p.order, p.page, p.size],
  );
  const data = list.data;
  return (
    <>
      <SearchBox value={p.q} label="Search artifacts" onSearch={(q) => p.update({ q, page: 1 }, true)} />
      <ErrorBanner error={list.error} />
      {data && data.total === 0 ? (
        <div className="empty card">
          {p.q ? (
            <p>No artifacts match “{p.q}”.</p>
          ) : registry.kind === 'upstream' ? (
            <p>Nothing cached yet. Pull through a registry that lists this proxy and the artifacts appear here.</p>
          ) : (
            <p>
              No artifacts yet. Open <strong>Setup Client</strong> for the commands to log in and push.
            </p>
          )}
        </div>
      ) : data ? (
        <>
          <DataTable<Artifact>
            caption={`Artifacts in ${registry.identifier}`}
            rows={data.items}
            rowKey={(a) => a.name}
            sort={{ sort: p.sort, order: p.order }}
            onSort={(s: SortState) => p.update({ sort: s.sort, order: s.order, page: 1 })}
            busy={list.loading}
            columns={[
              {
                header: 'Name',
                sort: 'name',
                render: (a) => (
                  <>
                    <Link to={`${base}/artifacts/${enc(a.name)}`} className="strong">
                      {a.name}
                    </Link>
                    {a.cached && (
                      <span className="badge cached" title="Fetched through an upstream proxy">
                        cached
                      </span>
                    )}
                  </>
                ),
              },
              { header: 'Latest', render: (a) => (a.latestVersion ? <code>{a.latestVersion}</code> : <span className="muted">untagged</span>) },
              { header: 'Versions', sort: 'versionCount', numeric: true, render: (a) => count(a.versionCount) },
              { header: 'Size', sort: 'sizeBytes', numeric: true, render: (a) => bytes(a.sizeBytes) },
              { header: 'Downloads', sort: 'downloadCount', numeric: true, render: (a) => count(a.downloadCount) },
              { header: 'Last modified', sort: 'updatedAt', render: (a) => <time dateTime={a.updatedAt}>{when(a.updatedAt)}</time> },
              {
                header: 'Pull',
                className: 'pull',
                render: (a) => {
                  const command = a.latestVersion ? pull(a.name, a.latestVersion) : null;
                  return command ? <Command text={command} label={`Copy pull command for ${a.name}`} /> : null;
                },
              },
            ]}
          />
          <Pager page={p.page} size={p.size} total={data.total} noun="artifacts" onPage={(page) => p.update({ page })} onSize={(size) => p.update({ size, page: 1 })} />
        </>
      ) : (
        <p role="status">Loading artifacts…</p>
      )}
    </>
  );
}

function VersionsList({ registry, artifact }: { registry: Registry; artifact: string }) {
  const p = useListParams('createdAt', 'desc');
  const type = usePackageTypes().find(registry.packageType);
  const base = `${registryPath(registry)}/artifacts/${enc(artifact)}`;
  const list = useAsync(
    () => api<VersionList>('GET', `${base}/versions${query({ q: p.q, sort: p.sort, order: p.order, page: p.page, size: p.size })}`),
    [base, p.q, p.sort, p.order, p.page, p.size],
  );
  const data = list.data;
  return (
    <>
      <h2>
        {artifact} <span className="muted small">versions</span>
      </h2>
      <SearchBox value={p.q} label="Search versions (tag or digest)" onSearch={(q) => p.update({ q, page: 1 }, true)} />
      <ErrorBanner error={list.error} />
      {data ? (
        <>
          <DataTable<Version>
            caption={`Versions of ${artifact}`}
            rows={data.items}
            rowKey={(v) => v.digest}
            sort={{ sort: p.sort, order: p.order }}
            onSort={(s) => p.update({ sort: s.sort, order: s.order, page: 1 })}
            busy={list.loading}
            columns={[
              {
                header: 'Tags',
                render: (v) =>
                  v.tags.length > 0 ? (
                    <ul className="labels" aria-label="Tags">
                      {v.tags.map((t) => (
                        <li key={t} className="label tag">
                          {t}
                        </li>
                      ))}
                    </ul>
                  ) : (
                    <span className="muted">untagged</span>
                  ),
              },
              {
                header: 'Digest',
                sort: 'digest',
                render: (v) => (
                  <Link to={`${base}/versions/${enc(v.digest)}`} className="mono" title={v.digest}>
                    {shortDigest(v.digest)}
                  </Link>
                ),
              },
              { header: 'Size', sort: 'size', numeric: true, render: (v) => bytes(v.size) },
              { header: 'Created', sort: 'createdAt', render: (v) => <time dateTime={v.createdAt}>{when(v.createdAt)}</time> },
              { header: 'Downloads', sort: 'downloadCount', numeric: true, render: (v) => count(v.downloadCount) },
              {
                header: 'Pull',
                className: 'pull',
                render: (v) => {
                  const command = pullCommand(type, registry, artifact, v.tags[0] ?? v.digest);
                  return command ? <Command text={command} label={`Copy pull command for ${v.tags[0] ?? shortDigest(v.digest)}`} /> : null;
                },
              },
            ]}
          />
          <Pager page={p.page} size={p.size} total={data.total} noun="versions" onPage={(page) => p.update({ page })} onSize={(size) => p.update({ size, page: 1 })} />
        </>
      ) : (
        <p role="status">Loading versions…</p>
      )}
    </>
  );
}

function VersionView({ registry, artifact, version }: { registry: Registry; artifact: string; version: string }) {
  const base = `${registryPath(registry)}/artifacts/${enc(artifact)}`;
  const detail = useAsync(() => api<VersionDetail>('GET', `${base}/versions/${enc(version)}`), [base, version]);
  const type = usePackageTypes().find(registry.packageType);
  const v = detail.data;
  if (!v) return detail.error ? <ErrorBanner error={detail.error} /> : <p role="status">Loading…</p>;
  const pulls = [...v.tags, v.digest].map((reference) => pullCommand(type, registry, artifact, reference)).filter((c): c is string => c !== null);
  return (
    <div className="detail">
      <h2>
        {artifact}
        {v.tags.length > 0 && <span className="muted">:{v.tags.join(', ')}</span>}
      </h2>
      <dl className="facts">
        <dt>Digest</dt>
        <dd className="mono">{v.digest}</dd>
        <dt>Media type</dt>
        <dd className="mono">{v.mediaType}</dd>
        {v.artifactType && (
          <>
            <dt>Artifact type</dt>
            <dd className="mono">{v.artifactType}</dd>
          </>
        )}
        <dt>Size</dt>
        <dd>{bytes(v.size)}</dd>
        <dt>Created</dt>
        <dd>{when(v.createdAt)}</dd>
        <dt>Downloads</dt>
        <dd>{count(v.downloadCount)}</dd>
      </dl>
      {pulls.length > 0 && (
        <>
          <h3>Pull</h3>
          {pulls.map((command) => (
            <Command key={command} text={command} />
          ))}
        </>
      )}

      {formatMetadata(v).map(([key, facts]) => (
        <section key={key} aria-label={heading(key)}>
          <h3>{heading(key)}</h3>
          <dl className="facts">
            {Object.entries(facts)
              .filter(([, value]) => typeof value === 'string' || typeof value === 'number')
              .map(([name, value]) => (
                <Fact key={name} name={name} value={String(value)} />
              ))}
          </dl>
        </section>
      ))}

      {v.platforms && (
        <>
          <h3>Platforms</h3>
          <DataTable
            caption="Platforms of this index"
            rowKey={(p) => p.digest}
            rows={v.platforms}
            columns={[
              {
                header: 'Platform',
                render: (p) => (p.platform ? `${p.platform.os}/${p.platform.architecture}${p.platform.variant ? `/${p.platform.variant}` : ''}` : 'unknown'),
              },
              {
                header: 'Digest',
                render: (p) => (
                  <Link to={`${base}/versions/${enc(p.digest)}`} className="mono" title={p.digest}>
                    {shortDigest(p.digest)}
                  </Link>
                ),
              },
              { header: 'Media type', render: (p) => <span className="mono small">{p.mediaType}</span> },
              { header: 'Manifest size', numeric: true, render: (p) => bytes(p.size) },
            ]}
          />
        </>
      )}

      {v.layers.length > 0 && (
        <>
          <h3>Layers</h3>
          <DataTable
            caption="Layers, in order"
            rowKey={(l) => `${l.digest}-${v.layers.indexOf(l)}`}
            rows={v.layers}
            columns={[
              { header: '#', numeric: true, render: (l) => v.layers.indexOf(l) + 1 },
              { header: 'Digest', render: (l) => <span className="mono" title={l.digest}>{shortDigest(l.digest)}</span> },
              { header: 'Media type', render: (l) => <span className="mono small">{l.mediaType}</span> },
              { header: 'Size', numeric: true, render: (l) => bytes(l.size) },
            ]}
          />
        </>
      )}

      {v.config && (
        <>
          <h3>Config</h3>
          <dl className="facts">
            <Fact name="Digest" value={v.config.digest} mono />
            <Fact name="Media type" value={v.config.mediaType} mono />
            <Fact name="Size" value={bytes(v.config.size)} />
          </dl>
        </>
      )}
      <details>
        <summary>Manifest</summary>
        <pre className="json">{JSON.stringify(v.manifest, null, 2)}</pre>
      </details>
    </div>
  );
}

/** The fields of a version detail every format has; the UI draws each in its own way. */
const COMMON_DETAIL = new Set(['digest', 'tags', 'mediaType', 'artifactType', 'size', 'manifestSize', 'createdAt', 'downloadCount', 'name', 'annotations', 'subject', 'manifest', 'config', 'layers', 'platforms']);

/** A format's own metadata in a version detail (any other object field), by field name. */
function formatMetadata(v: VersionDetail): Array<[string, Record<string, unknown>]> {
  const out: Array<[string, Record<string, unknown>]> = [];
  for (const [key, value] of Object.entries(v)) {
    if (!COMMON_DETAIL.has(key) && value !== null && typeof value === 'object' && !Array.isArray(value)) out.push([key, value as Record<string, unknown>]);
  }
  return out;
}

/** `someField` → `Some field`. */
function heading(key: string): string {
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function Fact({ name, value, mono }: { name: string; value: string; mono?: boolean }) {
  return (
    <>
      <dt>{name}</dt>
      <dd className={mono ? 'mono' : undefined}>{value}</dd>
    </>
  );
}
