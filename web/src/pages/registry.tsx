/**
 * A registry's page: its header (Setup Client, and Delete in the menu beside it) and tabs
 * Artifacts | Configuration. Under Artifacts: the artifact list → an artifact's versions → one
 * version (`version-detail.tsx`). Every list is paged and sorted by the server. Artifacts and
 * versions of every format are drawn the same way; a package version (a format not served over
 * OCI) is named by its version string instead of a digest. Delete is in each row's menu.
 */
import { useEffect, useId, useState } from 'react';
import { api, enc, query, registryPath, type Artifact, type ArtifactList, type Registry, type Version, type VersionList } from '../api.js';
import { bytes, count, hostPath, shortDigest, when } from '../format.js';
import { pullCommand, usePackageTypes } from '../package-types.js';
import { Link, navigate, useLocation } from '../router.js';
import { Command, DataTable, ErrorBanner, Labels, Menu, Pager, TypeIcon, useAsync, type SortState } from '../ui.js';
import { DeleteRegistryDialog } from '../dialogs/delete-registry.js';
import { DeleteArtifactDialog, type DeleteTarget } from '../dialogs/delete-artifact.js';
import { VersionView } from './version-detail.js';
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
            <span aria-current="page">{version.includes(':') ? shortDigest(version) : version}</span>
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
  const [deleting, setDeleting] = useState<DeleteTarget | null>(null);
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
              {
                header: 'Actions',
                className: 'actions',
                // A local registry's cached artifacts belong to its upstream proxies: read-only here.
                render: (a) =>
                  a.cached && registry.kind === 'local' ? null : (
                    <Menu label={`Actions for ${a.name}`} items={[{ label: 'Delete', danger: true, onSelect: () => setDeleting({ artifact: a.name }) }]} />
                  ),
              },
            ]}
          />
          <Pager page={p.page} size={p.size} total={data.total} noun="artifacts" onPage={(page) => p.update({ page })} onSize={(size) => p.update({ size, page: 1 })} />
        </>
      ) : (
        <p role="status">Loading artifacts…</p>
      )}
      {deleting && (
        <DeleteArtifactDialog
          registry={registry}
          target={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={() => {
            setDeleting(null);
            list.reload();
          }}
        />
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
  const [deleting, setDeleting] = useState<DeleteTarget | null>(null);
  const data = list.data;
  // Package versions (a format not served over OCI) are named by their version string.
  const packaged = type ? !type.ociBased : (data?.items.some((v) => v.version !== undefined) ?? false);
  const refOf = (v: Version): string => v.version ?? v.digest;
  const labelOf = (v: Version): string => v.version ?? shortDigest(v.digest);
  // A local registry's cached artifacts belong to its upstream proxies: read-only here.
  const about = useAsync(() => api<Artifact>('GET', base), [base]);
  const readOnly = registry.kind === 'local' && about.data?.cached === true;
  const tags = {
    header: 'Tags',
    render: (v: Version) =>
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
  };
  const name = packaged
    ? {
        header: 'Version',
        sort: 'version',
        render: (v: Version) => (
          <Link to={`${base}/versions/${enc(refOf(v))}`} className="mono strong">
            {v.version}
          </Link>
        ),
      }
    : {
        header: 'Digest',
        sort: 'digest',
        render: (v: Version) => (
          <Link to={`${base}/versions/${enc(v.digest)}`} className="mono" title={v.digest}>
            {shortDigest(v.digest)}
          </Link>
        ),
      };
  return (
    <>
      <h2>
        {artifact} <span className="muted small">versions</span>
      </h2>
      <SearchBox value={p.q} label={packaged ? 'Search versions (version or tag)' : 'Search versions (tag or digest)'} onSearch={(q) => p.update({ q, page: 1 }, true)} />
      <ErrorBanner error={list.error} />
      {data ? (
        <>
          <DataTable<Version>
            caption={`Versions of ${artifact}`}
            rows={data.items}
            rowKey={refOf}
            sort={{ sort: p.sort, order: p.order }}
            onSort={(s) => p.update({ sort: s.sort, order: s.order, page: 1 })}
            busy={list.loading}
            columns={[
              ...(packaged ? [name, tags, { header: 'Files', numeric: true, render: (v: Version) => count(v.files?.length ?? 0) }] : [tags, name]),
              { header: 'Size', sort: 'size', numeric: true, render: (v) => bytes(v.size) },
              { header: 'Created', sort: 'createdAt', render: (v) => <time dateTime={v.createdAt}>{when(v.createdAt)}</time> },
              ...(packaged ? [] : [{ header: 'Downloads', sort: 'downloadCount', numeric: true, render: (v: Version) => count(v.downloadCount) }]),
              {
                header: 'Pull',
                className: 'pull',
                render: (v) => {
                  const reference = v.version ?? v.tags[0] ?? v.digest;
                  const command = pullCommand(type, registry, artifact, reference);
                  return command ? <Command text={command} label={`Copy pull command for ${v.version ?? v.tags[0] ?? shortDigest(v.digest)}`} /> : null;
                },
              },
              {
                header: 'Actions',
                className: 'actions',
                render: (v) =>
                  readOnly ? null : (
                    <Menu label={`Actions for ${labelOf(v)}`} items={[{ label: 'Delete', danger: true, onSelect: () => setDeleting({ artifact, version: refOf(v), label: labelOf(v) }) }]} />
                  ),
              },
            ]}
          />
          <Pager page={p.page} size={p.size} total={data.total} noun="versions" onPage={(page) => p.update({ page })} onSize={(size) => p.update({ size, page: 1 })} />
        </>
      ) : (
        <p role="status">Loading versions…</p>
      )}
      {deleting && (
        <DeleteArtifactDialog
          registry={registry}
          target={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={() => {
            setDeleting(null);
            list.reload();
          }}
        />
      )}
    </>
  );
}
