/**
 * New Artifact Registry: type cards (the served package types), name (live name-rule check),
 * description, labels, and the chosen format's settings when it declares any (only values that
 * differ from the defaults are sent).
 */
import { useId, useState, type FormEvent } from 'react';
import { api, type Registry } from '../api.js';
import { nameProblem, parseLabels } from '../format.js';
import { usePackageTypes } from '../package-types.js';
import { ErrorBanner, Modal } from '../ui.js';
import { NameField, TypeCards } from './name-field.js';
import { changedSettings, FormatSettingsFields, type SettingValue } from '../pages/format-settings.js';

export function NewRegistryDialog({ space, onClose, onCreated }: { space: string; onClose: () => void; onCreated: (r: Registry) => void }) {
  const { types, error: typesError } = usePackageTypes();
  const [chosen, setType] = useState<string | null>(null);
  const packageType = chosen ?? types?.[0]?.type ?? '';
  const specs = types?.find((t) => t.type === packageType)?.settings ?? {};
  const defaults = Object.fromEntries(Object.entries(specs).map(([key, spec]) => [key, spec.default])) as Record<string, SettingValue>;
  const [settings, setSettings] = useState<Record<string, SettingValue>>({});
  const [identifier, setIdentifier] = useState('');
  const [description, setDescription] = useState('');
  const [labels, setLabels] = useState('');
  const [touched, setTouched] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const descId = useId();
  const labelsId = useId();

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setTouched(true);
    if (nameProblem(identifier) || packageType === '') return;
    setBusy(true);
    setError(null);
    try {
      const changed = changedSettings(defaults, { ...defaults, ...settings });
      const body = { space, identifier, packageType, kind: 'local', description, labels: parseLabels(labels), ...(Object.keys(changed).length > 0 ? { settings: changed } : {}) };
      const created = await api<Registry>('POST', '/registries', body);
      onCreated(created);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Modal title="New Artifact Registry" onClose={onClose}>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <p className="muted">In space {space}</p>
        <ErrorBanner error={typesError} />
        {types ? <TypeCards
            legend="Registry type"
            types={types}
            value={packageType}
            onChange={(type) => {
              setType(type);
              setSettings({});
            }}
          /> : !typesError && <p role="status">Loading package types…</p>}
        <NameField label="Registry name" value={identifier} onChange={setIdentifier} touched={touched} />
        <div className="field">
          <label htmlFor={descId}>Description (optional)</label>
          <textarea id={descId} value={description} onChange={(e) => setDescription(e.target.value)} rows={2} />
        </div>
        <div className="field">
          <label htmlFor={labelsId}>Labels (optional)</label>
          <input id={labelsId} value={labels} onChange={(e) => setLabels(e.target.value)} aria-describedby={`${labelsId}-hint`} />
          <p id={`${labelsId}-hint`} className="hint">
            Separate labels with commas or spaces.
          </p>
        </div>
        <FormatSettingsFields specs={specs} values={{ ...defaults, ...settings }} onChange={setSettings} />
        <ErrorBanner error={error} />
        <div className="modal-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            Create Registry
          </button>
        </div>
      </form>
    </Modal>
  );
}
