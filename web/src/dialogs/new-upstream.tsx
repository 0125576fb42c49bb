/**
 * New Upstream Proxy: type, key (name rule), then Docker: Docker Hub or Custom + URL; Helm: the
 * remote URL; authentication anonymous or username + password (write-only on the server).
 */
import { useId, useState, type FormEvent } from 'react';
import { api, type Registry } from '../api.js';
import { nameProblem } from '../format.js';
import { ErrorBanner, Modal } from '../ui.js';
import { NameField, TypeCards } from './name-field.js';

export function NewUpstreamDialog({ space, onClose, onCreated }: { space: string; onClose: () => void; onCreated: (r: Registry) => void }) {
  const [packageType, setType] = useState<'docker' | 'helm'>('docker');
  const [identifier, setIdentifier] = useState('');
  const [source, setSource] = useState<'dockerhub' | 'custom'>('dockerhub');
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
  const custom = packageType === 'helm' || source === 'custom';

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setTouched(true);
    setProblem(null);
    if (nameProblem(identifier)) return;
    if (custom && !/^(https?|oci):\/\/\S+$/.test(url)) {
      setProblem(packageType === 'helm' ? 'Enter the remote URL: https://… (chart repository) or oci://…' : 'Enter the remote registry URL: https://…');
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
        packageType,
        kind: 'upstream',
        description,
        upstream: {
          source: packageType === 'helm' ? 'custom' : source,
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
        <TypeCards legend="Upstream proxy type" value={packageType} onChange={setType} />
        <NameField label="Upstream proxy key" value={identifier} onChange={setIdentifier} touched={touched} />
        {packageType === 'docker' && (
          <fieldset className="choices">
            <legend>Source</legend>
            <label>
              <input type="radio" name={ids.source} checked={source === 'dockerhub'} onChange={() => setSource('dockerhub')} /> Docker Hub
            </label>
            <label>
              <input type="radio" name={ids.source} checked={source === 'custom'} onChange={() => setSource('custom')} /> Custom
            </label>
          </fieldset>
        )}
        {custom && (
          <div className="field">
            <label htmlFor={ids.url}>Remote registry URL</label>
            <input
              id={ids.url}
              type="url"
              value={url}
              onChange={(e) => setUrl(e.target.value)}
              placeholder={packageType === 'helm' ? 'https://charts.example.com or oci://registry.example.com/charts' : 'https://registry.example.com'}
            />
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
