/**
 * The Registries landing page of a space: search, filters by type and kind, a table sorted and
 * paged by the server (`GET /registries?space=&recursive=true&q=&packageType=&kind=&sort=&order=&page=&size=`),
 * New Artifact Registry with an Upstream Proxy option beside it, and Delete in each row's menu.
 * Filters, sort and page live in the URL, so Back and reload keep them.
 */
import { useEffect, useId, useState, type FormEvent } from 'react';
import { api, errorMessage, query, registryPath, type Registry, type RegistryList, type Space, type User } from '../api.js';
import { bytes, count, nameProblem, when } from '../format.js';
import { orList, usePackageTypes, type PackageType } from '../package-types.js';
import { Link, navigate, useLocation } from '../router.js';
import { DataTable, ErrorBanner, Labels, Menu, Pager, TypeIcon, useAsync, type Column } from '../ui.js';
import { NewRegistryDialog } from '../dialogs/new-registry.js';
import { NewUpstreamDialog } from '../dialogs/new-upstream.js';
import { DeleteRegistryDialog } from '../dialogs/delete-registry.js';

interface Props {
  space: string | null;
  spaces: Space[];
  spacesLoading: boolean;
  spacesError: unknown;
  onSpaceCreated: () => void;
  user: User;
}

export function RegistriesPage({ space, spaces, spacesLoading, spacesError, onSpaceCreated, user }: Props) {
  const { query: params } = useLocation();
  const q = params.get('q') ?? '';
  const type = params.get('type') ?? '';
  const kind = params.get('kind') ?? '';
  const sort = params.get('sort') ?? 'identifier';
  const order = params.get('order') === 'desc' ? 'desc' : 'asc';
  const page = Math.max(1, Number(params.get('page')) || 1);
  const size = Number(params.get('size')) || 50;
  const [search, setSearch] = useState(q);
  const [dialog, setDialog] = useState<'registry' | 'upstream' | null>(null);
  const [deleting, setDeleting] = useState<Registry | null>(null);
  const searchId = useId();
  const typeId = useId();
  const kindId = useId();
  const { types } = usePackageTypes();

  const update = (changes: Record<string, string | number | undefined>, replace = false): void => {
    const next = { space: space ?? undefined, q, type, kind, sort, order, page, size, ...changes } as Record<string, string | number | undefined>;
    if (next.sort === 'identifier') next.sort = undefined;
    if (next.order === 'asc') next.order = undefined;
    if (next.page === 1) next.page = undefined;
    if (next.size === 50) next.size = undefined;
    navigate(`/${query(next)}`, { replace });
  };

  // Search as you type, a quarter second after the last key.
  useEffect(() => {
    if (search === q) return undefined;
    const timer = setTimeout(() => update({ q: search, page: 1 }, true), 250);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [search]);
  useEffect(() => setSearch(q), [q]);

  const list = useAsync(
    () =>
      space
        ? api<RegistryList>('GET', `/registries${query({ space, recursive: true, q, packageType: type, kind, sort, order, page, size })}`)
        : Promise.resolve(undefined),
    [space, q, type, kind, sort, order, page, size],
  );

  if (!spacesLoading && spaces.length === 0 && !space) {
    return <NoSpaces user={user} onCreated={onSpaceCreated} error={spacesError} />;
  }

  const columns: Column<Registry>[] = [
    {
      header: 'Name',
      sort: 'identifier',
      render: (r) => (
        <Link to={registryPath(r)} className="strong">
          {r.identifier}
        </Link>
      ),
    },
    { header: 'Type', sort: 'packageType', render: (r) => <TypeIcon type={r.packageType} /> },
    { header: 'Kind', sort: 'kind', render: (r) => (r.kind === 'local' ? 'Registry' : <span className="badge">Upstream proxy</span>) },
    { header: 'Description', sort: 'description', render: (r) => <span className="muted clamp">{r.description}</span> },
    { header: 'Labels', sort: 'labels', render: (r) => <Labels labels={r.labels} /> },
    { header: 'Size', sort: 'sizeBytes', numeric: true, render: (r) => bytes(r.sizeBytes) },
    { header: 'Artifacts', sort: 'artifactCount', numeric: true, render: (r) => count(r.artifactCount) },
    { header: 'Downloads', sort: 'downloadCount', numeric: true, render: (r) => count(r.downloadCount) },
    { header: 'Last modified', sort: 'updatedAt', render: (r) => <time dateTime={r.updatedAt}>{when(r.updatedAt)}</time> },
    {
      header: '',
      className: 'actions',
      render: (r) => (
        <Menu
          label={`Actions for ${r.identifier}`}
          items={[
            { label: 'Open', onSelect: () => navigate(registryPath(r)) },
            { label: 'Configuration', onSelect: () => navigate(`${registryPath(r)}/configuration`) },
            { label: 'Delete', danger: true, onSelect: () => setDeleting(r) },
          ]}
        />
      ),
    },
  ];

  const data = list.data;
  const filtered = q !== '' || type !== '' || kind !== '';

  return (
    <section aria-labelledby="registries-title">
      <div className="page-head">
        <h1 id="registries-title">Registries</h1>
        <span className="muted">{space}</span>
        <span className="grow" />
        <div className="split">
          <button type="button" className="primary" onClick={() => setDialog('registry')} disabled={!space}>
            + New Artifact Registry
          </button>
          <Menu
            label="More ways to create"
            className="split-menu"
            buttonText={<span aria-hidden="true">▾</span>}
            items={[{ label: 'Upstream Proxy', onSelect: () => setDialog('upstream') }]}
          />
        </div>
      </div>

      <div className="toolbar" role="search">
        <label htmlFor={searchId} className="sr-only">
          Search registries
        </label>
        <input id={searchId} type="search" placeholder="Search registries" value={search} onChange={(e) => setSearch(e.target.value)} />
        <label htmlFor={typeId}>Type</label>
        <select id={typeId} value={type} onChange={(e) => update({ type: e.target.value, page: 1 })}>
          <option value="">All types</option>
          {types?.map((t) => (
            <option key={t.type} value={t.type}>
              {t.label}
            </option>
          ))}
          {type !== '' && !types?.some((t) => t.type === type) && <option value={type}>{type}</option>}
        </select>
        <label htmlFor={kindId}>Kind</label>
        <select id={kindId} value={kind} onChange={(e) => update({ kind: e.target.value, page: 1 })}>
          <option value="">All kinds</option>
          <option value="local">Registries</option>
          <option value="upstream">Upstream proxies</option>
        </select>
      </div>

      <ErrorBanner error={list.error} />
      {data && data.total === 0 && !filtered ? (
        <div className="empty card">
          <h2>No registries in {space} yet</h2>
          <p>
            Create an <strong>artifact registry</strong> to push {types ? `${orList(types.map((t) => t.label))} packages` : 'packages'}, or an{' '}
            <strong>upstream proxy</strong> that caches {publicSources(types)}, then add it to a registry&apos;s upstream list.
          </p>
          <div className="row">
            <button type="button" className="primary" onClick={() => setDialog('registry')}>
              + New Artifact Registry
            </button>
            <button type="button" onClick={() => setDialog('upstream')}>
              New Upstream Proxy
            </button>
          </div>
        </div>
      ) : data && data.total === 0 ? (
        <div className="empty card" role="status">
          <p>No registries match these filters.</p>
          <button type="button" onClick={() => update({ q: '', type: '', kind: '', page: 1 })}>
            Clear filters
          </button>
        </div>
      ) : data ? (
        <>
          <DataTable
            caption={`Registries in ${space}`}
            columns={columns}
            rows={data.items}
            rowKey={(r) => `${r.root}/${r.identifier}`}
            sort={{ sort, order }}
            onSort={(s) => update({ sort: s.sort, order: s.order, page: 1 })}
            busy={list.loading}
          />
          <Pager page={page} size={size} total={data.total} noun="registries" onPage={(p) => update({ page: p })} onSize={(s) => update({ size: s, page: 1 })} />
        </>
      ) : (
        list.loading && <p role="status">Loading registries…</p>
      )}

      {dialog === 'registry' && space && (
        <NewRegistryDialog space={space} onClose={() => setDialog(null)} onCreated={(r) => navigate(registryPath(r))} />
      )}
      {dialog === 'upstream' && space && (
        <NewUpstreamDialog
          space={space}
          onClose={() => setDialog(null)}
          onCreated={() => {
            setDialog(null);
            list.reload();
          }}
        />
      )}
      {deleting && (
        <DeleteRegistryDialog
          registry={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={() => {
            setDeleting(null);
            list.reload();
          }}
        />
      )}
    </section>
  );
}

/** "<public source> or another remote registry": the well-known public sources (a `defaultUrl`), if any. */
function publicSources(types: PackageType[] | undefined): string {
  const known = [...new Set((types ?? []).flatMap((t) => t.sources.filter((s) => s.defaultUrl !== undefined).map((s) => s.label)))];
  return known.length > 0 ? `${known.join(', ')} or another remote registry` : 'a remote registry';
}

/** First run: no space exists yet; an administrator creates the organization here. */
function NoSpaces({ user, onCreated, error }: { user: User; onCreated: () => void; error: unknown }) {
  const [path, setPath] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const id = useId();
  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    const segments = path.split('/');
    const bad = segments.map(nameProblem).find((p) => p !== null);
    if (bad) {
      setProblem(bad);
      return;
    }
    try {
      await api('POST', '/spaces', { path });
      navigate(`/?space=${encodeURIComponent(path)}`);
      onCreated();
    } catch (err) {
      setProblem(errorMessage(err));
    }
  };
  return (
    <section className="empty card" aria-labelledby="nospace-title">
      <h1 id="nospace-title">Welcome to Pallet</h1>
      <ErrorBanner error={error} />
      <p>Registries live in a space: an organization, and optionally projects inside it.</p>
      {user.admin ? (
        <form onSubmit={(e) => void submit(e)} className="inline-form">
          <label htmlFor={id}>Organization</label>
          <input id={id} value={path} onChange={(e) => setPath(e.target.value)} placeholder="acme" aria-describedby={problem ? `${id}-p` : undefined} />
          <button type="submit" className="primary">
            Create space
          </button>
          {problem && (
            <p id={`${id}-p`} className="error" role="alert">
              {problem}
            </p>
          )}
        </form>
      ) : (
        <p>You are not a member of any space yet. Ask an administrator to add you to one.</p>
      )}
    </section>
  );
}
