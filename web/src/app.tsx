/**
 * The shell: who is logged in (`GET /auth/me`), the header with the space switcher and logout,
 * and the page for the current path:
 *
 *   /login                                             log in
 *   /?space=acme/payments&q=&type=&kind=&sort=&page=   Registries landing page
 *   /registries/{root}/{identifier}[/configuration]    a registry: artifacts | configuration
 *   …/artifacts/{name}                                 versions of an artifact
 *   …/artifacts/{name}/versions/{version}              one version
 */
import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { api, type Me, type Space, type SpaceList, type User } from './api.js';
import { loadPackageTypes } from './package-types.js';
import { Link, navigate, useLocation } from './router.js';
import { LoginPage } from './pages/login.js';
import { RegistriesPage } from './pages/registries.js';
import { RegistryPage } from './pages/registry.js';
import { useAsync } from './ui.js';

const SPACE_KEY = 'pallet.space';

export function rememberSpace(space: string): void {
  try {
    localStorage.setItem(SPACE_KEY, space);
  } catch {
    // private mode: the switcher still works for this page
  }
}

export function rememberedSpace(): string | null {
  try {
    return localStorage.getItem(SPACE_KEY);
  } catch {
    return null;
  }
}

export function App() {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const location = useLocation();

  useEffect(() => {
    api<Me>('GET', '/auth/me').then(
      (me) => setUser(me.user),
      () => setUser(null),
    );
    const onUnauthorized = (): void => setUser(null);
    window.addEventListener('pallet:unauthorized', onUnauthorized);
    return () => window.removeEventListener('pallet:unauthorized', onUnauthorized);
  }, []);

  useEffect(() => {
    if (user === null && location.path !== '/login') {
      const next = location.path + (location.query.toString() ? `?${location.query}` : '');
      navigate(`/login${next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`, { replace: true });
    }
  }, [user, location.path, location.query]);

  const onLogin = useCallback((u: User) => {
    setUser(u);
    const next = new URLSearchParams(window.location.search).get('next');
    navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
  }, []);

  if (user === undefined) return <p className="loading" role="status">Loading…</p>;
  if (user === null || location.path === '/login') {
    return <LoginPage onLogin={onLogin} />;
  }
  return <Shell user={user} onLogout={() => setUser(null)} />;
}

function Shell({ user, onLogout }: { user: User; onLogout: () => void }) {
  const location = useLocation();
  // Every page draws formats from the package types: start loading them with the shell.
  useEffect(() => {
    loadPackageTypes().catch(() => undefined);
  }, []);
  const { segments } = location;
  const spaces = useAsync(() => api<SpaceList>('GET', '/spaces?size=500&sort=path'), []);
  const isRegistry = segments[0] === 'registries' && segments.length >= 3;
  const [registrySpace, setRegistrySpace] = useState<string | null>(null);
  const all = spaces.data?.items ?? [];
  const requested = location.query.get('space');
  const current = isRegistry
    ? registrySpace
    : requested ?? (all.find((s) => s.path === rememberedSpace())?.path ?? all[0]?.path ?? null);

  useEffect(() => {
    if (current) rememberSpace(current);
  }, [current]);

  // A new page (not a new filter or sort on the same page): screen readers start at its content.
  const firstPath = useRef(location.path);
  useEffect(() => {
    if (location.path === firstPath.current) return;
    firstPath.current = location.path;
    document.getElementById('main')?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }, [location.path]);

  const logout = async (): Promise<void> => {
    try {
      await api('POST', '/auth/logout');
    } finally {
      onLogout();
      navigate('/login', { replace: true });
    }
  };

  return (
    <div className="shell">
      <a href="#main" className="skip">
        Skip to content
      </a>
      <header className="top">
        <Link to={current ? `/?space=${encodeURIComponent(current)}` : '/'} className="brand">
          <span aria-hidden="true" className="brand-mark" />
          Pallet
        </Link>
        <SpaceSwitcher spaces={all} current={current} />
        <span className="grow" />
        <span className="who">
          Signed in as <strong>{user.username}</strong>
        </span>
        <button type="button" onClick={() => void logout()}>
          Log out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {isRegistry ? (
          <RegistryPage root={segments[1]!} identifier={segments[2]!} rest={segments.slice(3)} onSpace={setRegistrySpace} />
        ) : (
          <RegistriesPage space={current} spaces={all} spacesLoading={spaces.loading} spacesError={spaces.error} onSpaceCreated={spaces.reload} user={user} />
        )}
      </main>
    </div>
  );
}

/** Organization → project: one select, projects grouped under their organization. */
function SpaceSwitcher({ spaces, current }: { spaces: Space[]; current: string | null }) {
  const id = useId();
  const roots = spaces.filter((s) => s.parent === null);
  return (
    <div className="switcher">
      <label htmlFor={id}>Space</label>
      <select
        id={id}
        value={current ?? ''}
        onChange={(e) => navigate(`/?space=${encodeURIComponent(e.target.value)}`)}
        disabled={spaces.length === 0}
      >
        {current && !spaces.some((s) => s.path === current) && <option value={current}>{current}</option>}
        {spaces.length === 0 && <option value="">No spaces yet</option>}
        {roots.map((root) => (
          <optgroup key={root.path} label={root.path}>
            <option value={root.path}>{root.path} (organization)</option>
            {spaces
              .filter((s) => s.root === root.path && s.parent !== null)
              .map((s) => (
                <option key={s.path} value={s.path}>
                  {s.path}
                </option>
              ))}
          </optgroup>
        ))}
      </select>
    </div>
  );
}
