/**
 * A registry's Configuration: description, labels, and under Advanced (Optional) → Configure
 * Upstream the ordered list of upstream proxies (same root space, same type), reorderable by
 * drag and drop and by the Move up / Move down buttons. Saved with one `PATCH` (`upstreams`
 * replaces the list), with the format's per-registry settings (`format-settings.tsx`, only the
 * changed keys). Unsaved changes are flagged and guarded against leaving the page.
 */
import { useEffect, useId, useMemo, useRef, useState, type DragEvent, type FormEvent } from 'react';
import { api, query, registryPath, type Registry, type RegistryList } from '../api.js';
import { parseLabels } from '../format.js';
import { sourceLabel, usePackageTypes } from '../package-types.js';
import { useLeaveGuard } from '../router.js';
import { ErrorBanner, TypeIcon, useAsync } from '../ui.js';
import { changedSettings, FormatSettingsFields, type SettingValue } from './format-settings.js';

export function ConfigurationTab({ registry, onSaved }: { registry: Registry; onSaved: () => void }) {
  const [description, setDescription] = useState(registry.description);
  const [labels, setLabels] = useState(registry.labels.join(', '));
  const [upstreams, setUpstreams] = useState<string[]>(registry.upstreams);
  const [settings, setSettings] = useState<Record<string, SettingValue>>(registry.settings);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const descId = useId();
  const labelsId = useId();
  const packageType = usePackageTypes().find(registry.packageType);

  const dirty =
    description !== registry.description ||
    parseLabels(labels).join(',') !== registry.labels.join(',') ||
    upstreams.join(',') !== registry.upstreams.join(',') ||
    Object.keys(changedSettings(registry.settings, settings)).length > 0;
  useLeaveGuard(dirty ? 'You have unsaved changes to this configuration. Leave without saving?' : null);
  useEffect(() => {
    if (dirty) setSaved(false);
  }, [dirty]);

  const save = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { description, labels: parseLabels(labels) };
      if (registry.kind === 'local') body.upstreams = upstreams;
      const changed = changedSettings(registry.settings, settings);
      if (Object.keys(changed).length > 0) body.settings = changed;
      const updated = await api<Registry>('PATCH', registryPath(registry), body);
      setDescription(updated.description);
      setLabels(updated.labels.join(', '));
      setUpstreams(updated.upstreams);
      setSettings(updated.settings);
      setSaved(true);
      onSaved();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="config" onSubmit={(e) => void save(e)}>
      <div className="field">
        <label htmlFor={descId}>Description</label>
        <textarea id={descId} value={description} onChange={(e) => setDescription(e.target.value)} rows={3} />
      </div>
      <div className="field">
        <label htmlFor={labelsId}>Labels</label>
        <input id={labelsId} value={labels} onChange={(e) => setLabels(e.target.value)} aria-describedby={`${labelsId}-hint`} />
        <p id={`${labelsId}-hint`} className="hint">
          Separate labels with commas or spaces.
        </p>
      </div>
      {packageType && <FormatSettingsFields specs={packageType.settings} values={settings} onChange={setSettings} />}
      {registry.kind === 'upstream' && registry.upstream && (
        <section className="card">
          <h3>Upstream source</h3>
          <dl className="facts">
            <dt>Source</dt>
            <dd>{sourceLabel(packageType, registry.upstream.source)}</dd>
            <dt>URL</dt>
            <dd className="mono">{registry.upstream.url}</dd>
            <dt>Authentication</dt>
            <dd>{registry.upstream.auth.type === 'basic' ? `Username ${registry.upstream.auth.username ?? ''}` : 'Anonymous'}</dd>
          </dl>
        </section>
      )}
      {registry.kind === 'local' && (
        <details className="advanced" open={upstreams.length > 0 || undefined}>
          <summary>Advanced (Optional)</summary>
          <UpstreamPicker registry={registry} selected={upstreams} onChange={setUpstreams} />
        </details>
      )}
      <ErrorBanner error={error} />
      <div className="save-bar">
        {dirty ? (
          <span className="unsaved" role="status">
            You have unsaved changes.
          </span>
        ) : saved ? (
          <span role="status" className="ok">
            Saved.
          </span>
        ) : null}
        <span className="grow" />
        <button type="button" disabled={!dirty || busy} onClick={() => {
          setDescription(registry.description);
          setLabels(registry.labels.join(', '));
          setUpstreams(registry.upstreams);
          setSettings(registry.settings);
        }}>
          Discard
        </button>
        <button type="submit" className="primary" disabled={!dirty || busy}>
          Save
        </button>
      </div>
    </form>
  );
}

function UpstreamPicker({ registry, selected, onChange }: { registry: Registry; selected: string[]; onChange: (next: string[]) => void }) {
  const proxies = useAsync(
    () =>
      api<RegistryList>(
        'GET',
        `/registries${query({ space: registry.root, recursive: true, kind: 'upstream', packageType: registry.packageType, size: 500 })}`,
      ),
    [registry.root, registry.packageType],
  );
  const typeLabel = usePackageTypes().find(registry.packageType)?.label ?? registry.packageType;
  const byId = useMemo(() => new Map((proxies.data?.items ?? []).map((p) => [p.identifier, p])), [proxies.data]);
  const available = (proxies.data?.items ?? []).filter((p) => !selected.includes(p.identifier));
  const [dragging, setDragging] = useState<number | null>(null);
  const [over, setOver] = useState<number | null>(null);
  const [announce, setAnnounce] = useState('');
  const list = useRef<HTMLOListElement>(null);
  const focusAfter = useRef<{ name: string; action: string } | null>(null);

  useEffect(() => {
    const target = focusAfter.current;
    if (!target) return;
    focusAfter.current = null;
    const item = list.current?.querySelector<HTMLElement>(`[data-upstream="${CSS.escape(target.name)}"]`);
    const button = item?.querySelector<HTMLButtonElement>(`[data-action="${target.action}"]:not(:disabled)`) ?? item?.querySelector<HTMLButtonElement>('button:not(:disabled)');
    button?.focus();
  }, [selected]);

  const move = (from: number, to: number, via: string): void => {
    if (to < 0 || to >= selected.length || from === to) return;
    const next = [...selected];
    const [item] = next.splice(from, 1);
    next.splice(to, 0, item!);
    onChange(next);
    focusAfter.current = { name: item!, action: via };
    setAnnounce(`${item} moved to position ${to + 1} of ${next.length}`);
  };

  const onDrop = (event: DragEvent, to: number): void => {
    event.preventDefault();
    const from = dragging ?? Number(event.dataTransfer.getData('text/plain'));
    setDragging(null);
    setOver(null);
    if (Number.isInteger(from)) move(from, to, 'handle');
  };

  return (
    <section className="upstreams" aria-labelledby="configure-upstream">
      <h3 id="configure-upstream">Configure Upstream</h3>
      <p className="hint" id="upstream-order-note">
        When this registry cannot answer a request from its own content, it queries the selected upstream proxies <strong>from top to bottom</strong>{' '}
        and serves the first that has it. Drag to reorder, or use Move up / Move down.
      </p>
      <ErrorBanner error={proxies.error} />
      <div className="two">
        <div>
          <h4>Available upstream proxies</h4>
          {proxies.data && available.length === 0 && (
            <p className="muted">
              {proxies.data.total === 0
                ? `No ${typeLabel} upstream proxies in ${registry.root} yet. Create one from New Artifact Registry ▾ → Upstream Proxy.`
                : 'All are selected.'}
            </p>
          )}
          <ul className="pick-list" aria-label="Available upstream proxies">
            {available.map((p) => (
              <li key={p.identifier}>
                <TypeIcon type={p.packageType} />
                <span className="grow">
                  <strong>{p.identifier}</strong>
                  <span className="muted small"> {p.upstream?.url}</span>
                </span>
                <button
                  type="button"
                  aria-label={`Add ${p.identifier}`}
                  onClick={() => {
                    onChange([...selected, p.identifier]);
                    setAnnounce(`${p.identifier} added at position ${selected.length + 1}`);
                  }}
                >
                  Add
                </button>
              </li>
            ))}
          </ul>
        </div>
        <div>
          <h4 id="selected-upstreams">Selected, in query order</h4>
          {selected.length === 0 && <p className="muted">None: requests this registry cannot answer fail.</p>}
          <ol ref={list} className="order-list" aria-labelledby="selected-upstreams" aria-describedby="upstream-order-note">
            {selected.map((name, i) => (
              <li
                key={name}
                data-upstream={name}
                draggable
                className={`${dragging === i ? 'dragging' : ''}${over === i && dragging !== i ? ' drop-target' : ''}`}
                onDragStart={(e) => {
                  setDragging(i);
                  e.dataTransfer.effectAllowed = 'move';
                  e.dataTransfer.setData('text/plain', String(i));
                }}
                onDragEnd={() => {
                  setDragging(null);
                  setOver(null);
                }}
                onDragOver={(e) => {
                  e.preventDefault();
                  e.dataTransfer.dropEffect = 'move';
                  if (over !== i) setOver(i);
                }}
                onDrop={(e) => onDrop(e, i)}
              >
                <span className="handle" aria-hidden="true" data-action="handle">
                  ⠿
                </span>
                <span className="position">{i + 1}.</span>
                <span className="grow">
                  <strong>{name}</strong>
                  {!byId.has(name) && proxies.data && <span className="muted small"> (not found)</span>}
                  <span className="muted small"> {byId.get(name)?.upstream?.url}</span>
                </span>
                <button type="button" data-action="up" aria-label={`Move ${name} up`} disabled={i === 0} onClick={() => move(i, i - 1, 'up')}>
                  ↑
                </button>
                <button
                  type="button"
                  data-action="down"
                  aria-label={`Move ${name} down`}
                  disabled={i === selected.length - 1}
                  onClick={() => move(i, i + 1, 'down')}
                >
                  ↓
                </button>
                <button
                  type="button"
                  aria-label={`Remove ${name}`}
                  onClick={() => {
                    onChange(selected.filter((s) => s !== name));
                    setAnnounce(`${name} removed`);
                  }}
                >
                  Remove
                </button>
              </li>
            ))}
          </ol>
        </div>
      </div>
      <p className="sr-only" aria-live="polite">
        {announce}
      </p>
    </section>
  );
}
