/**
 * One version of an artifact: its facts and pull commands; for an OCI version its platforms,
 * layers, config and manifest; for a package version (a format not served over OCI) its files
 * with their digests. Any format's own detail (any other object field of the version detail,
 * e.g. a chart's metadata, a package's dependencies) is drawn generically: scalars as facts,
 * lists and nested objects as nested lists. Delete sits beside the heading.
 */
import { useState, type ReactNode } from 'react';
import { api, enc, registryPath, type Registry, type VersionDetail } from '../api.js';
import { bytes, count, shortDigest, when } from '../format.js';
import { pullCommand, usePackageTypes } from '../package-types.js';
import { Link, navigate } from '../router.js';
import { Command, CopyButton, DataTable, ErrorBanner, useAsync } from '../ui.js';
import { DeleteArtifactDialog } from '../dialogs/delete-artifact.js';

export function VersionView({ registry, artifact, version }: { registry: Registry; artifact: string; version: string }) {
  const base = `${registryPath(registry)}/artifacts/${enc(artifact)}`;
  const detail = useAsync(() => api<VersionDetail>('GET', `${base}/versions/${enc(version)}`), [base, version]);
  const type = usePackageTypes().find(registry.packageType);
  const [deleting, setDeleting] = useState(false);
  const v = detail.data;
  if (!v) return detail.error ? <ErrorBanner error={detail.error} /> : <p role="status">Loading…</p>;
  const pkg = v.version !== undefined;
  const references = pkg ? [v.version!] : [...v.tags, v.digest];
  const pulls = references.map((reference) => pullCommand(type, registry, artifact, reference)).filter((c): c is string => c !== null);
  return (
    <div className="detail">
      <div className="page-head">
        <h2>
          {artifact}
          {pkg ? <span className="muted"> {v.version}</span> : v.tags.length > 0 && <span className="muted">:{v.tags.join(', ')}</span>}
        </h2>
        <span className="grow" />
        <button type="button" className="danger" onClick={() => setDeleting(true)}>
          Delete version
        </button>
      </div>
      <dl className="facts">
        {pkg ? (
          <>
            <dt>Version</dt>
            <dd className="mono">{v.version}</dd>
            {v.tags.length > 0 && (
              <>
                <dt>Tags</dt>
                <dd>{v.tags.join(', ')}</dd>
              </>
            )}
          </>
        ) : (
          <>
            <dt>Digest</dt>
            <dd className="mono">{v.digest}</dd>
            <dt>Media type</dt>
            <dd className="mono">{v.mediaType}</dd>
          </>
        )}
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
        {!pkg && (
          <>
            <dt>Downloads</dt>
            <dd>{count(v.downloadCount)}</dd>
          </>
        )}
      </dl>
      {pulls.length > 0 && (
        <>
          <h3>Pull</h3>
          {pulls.map((command) => (
            <Command key={command} text={command} />
          ))}
        </>
      )}

      {v.files && (
        <>
          <h3>Files</h3>
          <DataTable
            caption={`Files of ${artifact} ${v.version ?? ''}`}
            rowKey={(f) => f.path}
            rows={v.files}
            columns={[
              { header: 'Path', render: (f) => <span className="mono">{f.path}</span> },
              { header: 'Size', numeric: true, render: (f) => bytes(f.size) },
              {
                header: 'Digest',
                render: (f) => (
                  <>
                    <span className="mono" title={f.digest}>
                      {shortDigest(f.digest)}
                    </span>{' '}
                    <CopyButton text={f.digest} label={`Copy digest of ${f.path}`} />
                  </>
                ),
              },
            ]}
          />
        </>
      )}

      {formatMetadata(v).map(([key, facts]) => (
        <section key={key} aria-label={heading(key)}>
          <h3>{heading(key)}</h3>
          <DetailObject value={facts} />
        </section>
      ))}

      {!pkg && <OciParts v={v} base={base} />}
      {deleting && (
        <DeleteArtifactDialog
          registry={registry}
          target={{ artifact, version, label: pkg ? v.version : shortDigest(v.digest) }}
          onClose={() => setDeleting(false)}
          onDeleted={() => navigate(base)}
        />
      )}
    </div>
  );
}

function OciParts({ v, base }: { v: VersionDetail; base: string }) {
  return (
    <>
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
      {v.manifest && (
        <details>
          <summary>Manifest</summary>
          <pre className="json">{JSON.stringify(v.manifest, null, 2)}</pre>
        </details>
      )}
    </>
  );
}

/** The fields of a version detail every format has; the UI draws each in its own way. */
const COMMON_DETAIL = new Set([
  'digest',
  'tags',
  'mediaType',
  'artifactType',
  'size',
  'manifestSize',
  'createdAt',
  'downloadCount',
  'name',
  'annotations',
  'subject',
  'manifest',
  'config',
  'layers',
  'platforms',
  'version',
  'files',
]);

/** A format's own metadata in a version detail (any other object field), by field name. */
function formatMetadata(v: VersionDetail): Array<[string, Record<string, unknown>]> {
  const out: Array<[string, Record<string, unknown>]> = [];
  for (const [key, value] of Object.entries(v)) {
    if (!COMMON_DETAIL.has(key) && value !== null && typeof value === 'object' && !Array.isArray(value)) out.push([key, value as Record<string, unknown>]);
  }
  return out;
}

/** Nesting drawn at most this deep (deeper values are shown as JSON). */
const MAX_DEPTH = 4;

/** An object's fields as facts; nested values recurse. */
function DetailObject({ value, depth = 0 }: { value: Record<string, unknown>; depth?: number }) {
  const entries = Object.entries(value).filter(([, v]) => v !== null && v !== undefined && v !== '');
  if (entries.length === 0) return <span className="muted">none</span>;
  return (
    <dl className="facts">
      {entries.map(([name, v]) => (
        <div key={name} className="fact">
          <dt>{name}</dt>
          <dd>
            <DetailValue value={v} depth={depth + 1} />
          </dd>
        </div>
      ))}
    </dl>
  );
}

function DetailValue({ value, depth }: { value: unknown; depth: number }): ReactNode {
  if (value === null || value === undefined) return <span className="muted">none</span>;
  if (typeof value !== 'object') return String(value);
  if (depth > MAX_DEPTH) return <code>{JSON.stringify(value)}</code>;
  if (Array.isArray(value)) {
    if (value.length === 0) return <span className="muted">none</span>;
    if (value.every((item) => item === null || typeof item !== 'object')) return value.map(String).join(', ');
    return (
      <ul className="detail-list">
        {value.map((item, i) => (
          <li key={i}>
            <DetailValue value={item} depth={depth + 1} />
          </li>
        ))}
      </ul>
    );
  }
  return <DetailObject value={value as Record<string, unknown>} depth={depth} />;
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
