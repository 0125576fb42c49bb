/**
 * New Upstream Proxy: type, key (name rule), then the type's upstream sources (offered when it
 * has more than one; a source with a fixed URL needs none, `custom` asks for the remote URL
 * with the type's URL hint and schemes); authentication anonymous or username + password
 * (write-only on the server). Everything format-specific comes from `GET /package-types`.
 */
import { useId, useState, type FormEvent } from 'react';
import { api, type Registry } from '../api.js';
import { nameProblem } from '../format.js';
import { initialSource, orList, usePackageTypes } from '../package-types.js';
import { ErrorBanner, Modal } from '../ui.js';
import { NameField, TypeCards } from './name-field.js';

export function NewUpstreamDialog({ space, onClose, onCreated }: { space: string; onClose: () => void; onCreated: (r: Registry) => void }) {
  const { types, error: typesError } = usePackageTypes();
  const [chosen, setChosen] = useState<string | null>(null);
  const type = types?.find((t) => t.type === chosen) ?? types?.[0];
  const [identifier, setIdentifier] = useState('');
  const [pickedSource, setSource] = useState<string | null>(null);
  const source = type && pickedSource !== null && type.sources.some((s) => s.id === pickedSource) ? pickedSource : type ? initialSource(type) : '';
  const [url, setUrl] = useState('');
  const [authType, setAuthType] = useState<'anonymous' | 'basic'>('anonymous');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [description, setDescription] = useState('');
  const [touched, setTouched] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const ids = { url: useId(), user: useId(), pass: useId(), desc: useId(), source: useId(), auth: useId() };
  // A source with a well-known URL fixes it; any other (custom) takes the URL typed here.
  const custom = type !== undefined && type.sources.find((s) => s.id === source)?.defaultUrl === undefined;
  const setType = (next: string): void => {
    setChosen(next);
    setSource(null);
  };

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setTouched(true);
    setProblem(null);
    if (nameProblem(identifier) || !type) return;
    if (custom && !urlAllowed(url, type.urlSchemes)) {
      setProblem(`Enter the remote URL of ${type.urlHint}, starting with ${orList(type.urlSchemes.map((s) => `${s}//`))}`);
      return;
    }
    if (authType === 'basic' && (username === '' || password === '')) {
      setProblem('Enter both a username and a password or token.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const created = await api<Registry>('POST', '/registries', {
        space,
        identifier,
        packageType: type.type,
        kind: 'upstream',
        description,
        upstream: {
          source,
          ...(custom ? { url } : {}),
          auth: authType === 'basic' ? { type: 'basic', username, password } : { type: 'anonymous' },
        },
      });
      onCreated(created);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Modal title="New Upstream Proxy" onClose={onClose}>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <p className="muted">In space {space}. A proxy caches what it fetches; add it to a registry&apos;s upstream list to use it.</p>
        <ErrorBanner error={typesError} />
        {types ? (
          <TypeCards legend="Upstream proxy type" types={types} value={type?.type ?? ''} onChange={setType} />
        ) : (
          !typesError && <p role="status">Loading package types…</p>
        )}
        <NameField label="Upstream proxy key" value={identifier} onChange={setIdentifier} touched={touched} />
        {type && type.sources.length > 1 && (
          <fieldset className="choices">
            <legend>Source</legend>
            {type.sources.map((s) => (
              <label key={s.id}>
                <input type="radio" name={ids.source} checked={source === s.id} onChange={() => setSource(s.id)} /> {s.label}
              </label>
            ))}
          </fieldset>
        )}
        {custom && type && (
          <div className="field">
            <label htmlFor={ids.url}>Remote registry URL</label>
            <input id={ids.url} type="url" value={url} onChange={(e) => setUrl(e.target.value)} aria-describedby={`${ids.url}-hint`} />
            <p id={`${ids.url}-hint`} className="hint">
              The URL of {type.urlHint}; it starts with {orList(type.urlSchemes.map((s) => `${s}//`))}.
            </p>
          </div>
        )}
        <fieldset className="choices">
          <legend>Authentication</legend>
          <label>
            <input type="radio" name={ids.auth} checked={authType === 'anonymous'} onChange={() => setAuthType('anonymous')} /> Anonymous
          </label>
          <label>
            <input type="radio" name={ids.auth} checked={authType === 'basic'} onChange={() => setAuthType('basic')} /> Username and password
          </label>
        </fieldset>
        {authType === 'basic' && (
          <div className="two">
            <div className="field">
              <label htmlFor={ids.user}>Username</label>
              <input id={ids.user} value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="off" />
            </div>
            <div className="field">
              <label htmlFor={ids.pass}>Password or token</label>
              <input id={ids.pass} type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" />
            </div>
          </div>
        )}
        <div className="field">
          <label htmlFor={ids.desc}>Description (optional)</label>
          <input id={ids.desc} value={description} onChange={(e) => setDescription(e.target.value)} />
        </div>
        {problem && (
          <p className="error" role="alert">
            {problem}
          </p>
        )}
        <ErrorBanner error={error} />
        <div className="modal-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            Create Upstream Proxy
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** `url` is absolute, with one of `schemes` (`https:`) and a host. */
function urlAllowed(url: string, schemes: readonly string[]): boolean {
  try {
    const parsed = new URL(url);
    return schemes.includes(parsed.protocol) && parsed.host !== '';
  } catch {
    return false;
  }
}
