/**
 * Delete an artifact or one of its versions (any format: an OCI manifest with its tags, or a
 * package version through its format). The API's refusal (a format that manages no deletions,
 * a cached copy seen through a local registry) is shown in the dialog.
 */
import { useState } from 'react';
import { api, enc, registryPath, type Registry } from '../api.js';
import { ErrorBanner, Modal } from '../ui.js';

export interface DeleteTarget {
  artifact: string;
  /** A version (its version string, digest or tag); absent: the whole artifact. */
  version?: string;
  /** How to show the version (a short digest, the version string). */
  label?: string;
}

export function DeleteArtifactDialog({ registry, target, onClose, onDeleted }: { registry: Registry; target: DeleteTarget; onClose: () => void; onDeleted: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const path = `${registryPath(registry)}/artifacts/${enc(target.artifact)}${target.version !== undefined ? `/versions/${enc(target.version)}` : ''}`;
  const what = target.version !== undefined ? `version ${target.label ?? target.version} of ${target.artifact}` : `artifact ${target.artifact} with all its versions`;

  const remove = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await api('DELETE', path);
      onDeleted();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Modal title={target.version !== undefined ? 'Delete version?' : 'Delete artifact?'} onClose={onClose} className="danger-dialog">
      <p>
        This deletes the {what} from <strong>{registry.identifier}</strong>. Its files are reclaimed by the next garbage collection. This cannot be undone.
      </p>
      <ErrorBanner error={error} />
      <div className="modal-actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="danger" disabled={busy} onClick={() => void remove()}>
          Delete
        </button>
      </div>
    </Modal>
  );
}
