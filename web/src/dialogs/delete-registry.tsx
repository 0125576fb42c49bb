/**
 * Delete a registry: says what goes with it and asks for its name. The API's refusal (409 for an
 * upstream proxy still listed by registries, naming them) is shown in the dialog.
 */
import { useId, useState, type FormEvent } from 'react';
import { api, registryPath, type Registry } from '../api.js';
import { bytes, count } from '../format.js';
import { ErrorBanner, Modal } from '../ui.js';

export function DeleteRegistryDialog({ registry, onClose, onDeleted }: { registry: Registry; onClose: () => void; onDeleted: () => void }) {
  const [typed, setTyped] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const what = registry.kind === 'upstream' ? 'upstream proxy' : 'registry';

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    if (typed !== registry.identifier) return;
    setBusy(true);
    setError(null);
    try {
      await api('DELETE', registryPath(registry));
      onDeleted();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Modal title={`Delete ${what} ${registry.identifier}?`} onClose={onClose} className="danger-dialog">
      <form onSubmit={(e) => void submit(e)}>
        <p>
          This deletes the {what} <strong>{registry.identifier}</strong> in {registry.space} and{' '}
          {registry.kind === 'upstream' ? 'everything it cached' : 'all its artifacts'}:{' '}
          <strong>
            {count(registry.artifactCount)} artifact{registry.artifactCount === 1 ? '' : 's'}, {bytes(registry.sizeBytes)}
          </strong>
          . Their storage is reclaimed. This cannot be undone.
        </p>
        {registry.kind === 'upstream' && <p className="muted">Registries that list this proxy in their upstreams must remove it first.</p>}
        <div className="field">
          <label htmlFor={id}>
            Type <strong>{registry.identifier}</strong> to confirm
          </label>
          <input id={id} value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" spellCheck={false} autoFocus />
        </div>
        <ErrorBanner error={error} />
        <div className="modal-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={busy || typed !== registry.identifier}>
            Delete {what}
          </button>
        </div>
      </form>
    </Modal>
  );
}
