/**
 * Shared building blocks: modal dialogs (native <dialog>: focus moves in, Escape closes, the
 * page behind is inert), the three-dots menu, copy buttons, error banners, the sortable paged
 * table and type icons. No component library: each is small and keyboard-usable.
 */
import { useCallback, useEffect, useId, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { count } from './format.js';
import { usePackageTypes } from './package-types.js';

/**
 * Loads `load()` whenever `deps` change. `loading` is true from the very render in which the
 * deps change (not only once the effect runs), so a table never claims to show data it has not
 * fetched yet.
 */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: unknown; loading: boolean; reload: () => void } {
  const key = JSON.stringify(deps);
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean; key: string | null }>({ data: undefined, error: undefined, loading: true, key: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, error: undefined, loading: false, key }),
      (error: unknown) => live && setState((s) => ({ data: s.data, error, loading: false, key })),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading || state.key !== key, reload };
}

export function ErrorBanner({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="error" role="alert">
      {message}
    </div>
  );
}

export function Modal({ title, onClose, children, wide, className }: { title: string; onClose: () => void; children: ReactNode; wide?: boolean; className?: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    const opener = document.activeElement as HTMLElement | null;
    dialog?.showModal();
    return () => {
      dialog?.close();
      opener?.focus?.();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className={`modal${wide ? ' wide' : ''}${className ? ` ${className}` : ''}`}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <header className="modal-head">
        <h2 id={titleId}>{title}</h2>
        <button type="button" className="icon-button" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="modal-body">{children}</div>
    </dialog>
  );
}

export interface MenuItem {
  label: string;
  onSelect: () => void;
  danger?: boolean;
}

/** A button that opens a menu (role=menu): arrows move, Enter picks, Escape closes. */
export function Menu({ label, items, buttonText = '⋮', className }: { label: string; items: MenuItem[]; buttonText?: ReactNode; className?: string }) {
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const list = useRef<HTMLUListElement>(null);
  const menuId = useId();
  useEffect(() => {
    if (!open) return undefined;
    list.current?.querySelector<HTMLButtonElement>('[role=menuitem]')?.focus();
    const onDown = (e: PointerEvent): void => {
      if (!list.current?.contains(e.target as Node) && !button.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('pointerdown', onDown);
    return () => document.removeEventListener('pointerdown', onDown);
  }, [open]);
  const onKey = (e: KeyboardEvent): void => {
    const entries = [...(list.current?.querySelectorAll<HTMLButtonElement>('[role=menuitem]') ?? [])];
    const at = entries.indexOf(document.activeElement as HTMLButtonElement);
    if (e.key === 'Escape') {
      e.preventDefault();
      setOpen(false);
      button.current?.focus();
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const next = (at + (e.key === 'ArrowDown' ? 1 : -1) + entries.length) % entries.length;
      entries[next]?.focus();
    } else if (e.key === 'Tab') setOpen(false);
  };
  return (
    <span className={`menu ${className ?? ''}`}>
      <button
        ref={button}
        type="button"
        className="menu-button"
        aria-label={label}
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        onClick={() => setOpen((o) => !o)}
      >
        {buttonText}
      </button>
      {open && (
        <ul ref={list} id={menuId} role="menu" aria-label={label} className="menu-list" onKeyDown={onKey}>
          {items.map((item) => (
            <li key={item.label} role="none">
              <button
                type="button"
                role="menuitem"
                className={item.danger ? 'danger-text' : undefined}
                onClick={() => {
                  setOpen(false);
                  item.onSelect();
                }}
              >
                {item.label}
              </button>
            </li>
          ))}
        </ul>
      )}
    </span>
  );
}

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.append(area);
  area.select();
  document.execCommand('copy');
  area.remove();
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  useEffect(() => {
    if (copied === null) return undefined;
    const timer = setTimeout(() => setCopied(null), 2000);
    return () => clearTimeout(timer);
  }, [copied]);
  return (
    <button
      type="button"
      className="copy"
      aria-label={label}
      onClick={() => copyText(text).then(() => setCopied('yes'), () => setCopied('failed'))}
    >
      <span aria-live="polite">{copied === 'yes' ? 'Copied' : copied === 'failed' ? 'Copy failed' : 'Copy'}</span>
    </button>
  );
}

export function Command({ text, label }: { text: string; label?: string }) {
  return (
    <div className="command">
      <code>{text}</code>
      <CopyButton text={text} label={label ?? `Copy: ${text}`} />
    </div>
  );
}

/** Icon glyphs by the icon names package types give (`GET /package-types`). */
const ICONS: Record<string, (size: number) => ReactNode> = {
  container: (size) => (
    <svg viewBox="0 0 24 24" width={size} height={size} aria-hidden="true">
      <path fill="currentColor" d="M3 12h16.5c.6-1.2 1.8-1.6 2.5-1.4-.3-1-1.1-1.5-1.9-1.5-.3-1-1-1.8-1.9-2.2l-.5.8c.6.5.9 1.3.8 2H3c-.3 3.4 1.7 7.3 7.4 7.3 4.3 0 7.6-1.9 9.1-5H3z" />
      <path fill="currentColor" d="M5 9h2v2H5zM8 9h2v2H8zM11 9h2v2h-2zM8 6h2v2H8zM11 6h2v2h-2zM14 9h2v2h-2zM11 3h2v2h-2z" />
    </svg>
  ),
  wheel: (size) => (
    <svg viewBox="0 0 24 24" width={size} height={size} aria-hidden="true">
      <circle cx="12" cy="12" r="6" fill="none" stroke="currentColor" strokeWidth="2" />
      <path stroke="currentColor" strokeWidth="2" d="M12 2v5M12 17v5M2 12h5M17 12h5M5 5l3.5 3.5M15.5 15.5 19 19M19 5l-3.5 3.5M8.5 15.5 5 19" />
    </svg>
  ),
};

/** A package: the glyph of an icon name the UI does not have (a format newer than the UI). */
function genericIcon(size: number): ReactNode {
  return (
    <svg viewBox="0 0 24 24" width={size} height={size} aria-hidden="true">
      <path fill="none" stroke="currentColor" strokeWidth="2" strokeLinejoin="round" d="M12 2 21 7v10l-9 5-9-5V7zM3 7l9 5 9-5M12 12v10" />
    </svg>
  );
}

/** The icon of package type `type` (the registry's `packageType`), titled with its label. */
export function TypeIcon({ type, size = 18 }: { type: string; size?: number }) {
  const spec = usePackageTypes().find(type);
  const icon = spec?.icon ?? '';
  const title = spec?.label ?? type;
  const glyph = ICONS[icon] ?? genericIcon;
  return (
    <span className={`type-icon icon-${ICONS[icon] ? icon : 'generic'}`} title={title} data-icon={icon}>
      {glyph(size)}
      <span className="sr-only">{title}</span>
    </span>
  );
}

export interface Column<T> {
  header: string;
  /** The API's sort key; the header becomes a sort button when set. */
  sort?: string;
  numeric?: boolean;
  render: (row: T) => ReactNode;
  className?: string;
}

export interface SortState {
  sort: string;
  order: 'asc' | 'desc';
}

export function DataTable<T>({
  caption,
  columns,
  rows,
  rowKey,
  sort,
  onSort,
  busy,
}: {
  caption: string;
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string;
  sort?: SortState;
  onSort?: (sort: SortState) => void;
  busy?: boolean;
}) {
  return (
    <div className="table-wrap">
      <table aria-busy={busy ? true : undefined}>
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => {
              const active = sort && c.sort === sort.sort;
              return (
                <th
                  key={c.header || 'actions'}
                  scope="col"
                  className={`${c.numeric ? 'num' : ''} ${c.className ?? ''}`}
                  aria-sort={active ? (sort.order === 'asc' ? 'ascending' : 'descending') : undefined}
                >
                  {c.sort && onSort ? (
                    <button
                      type="button"
                      className="sort"
                      onClick={() => onSort({ sort: c.sort!, order: active && sort.order === 'asc' ? 'desc' : 'asc' })}
                    >
                      {c.header}
                      <span aria-hidden="true" className="sort-mark">
                        {active ? (sort.order === 'asc' ? '▲' : '▼') : '↕'}
                      </span>
                    </button>
                  ) : (
                    c.header || <span className="sr-only">Actions</span>
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)}>
              {columns.map((c) => (
                <td key={c.header || 'actions'} className={`${c.numeric ? 'num' : ''} ${c.className ?? ''}`}>
                  {c.render(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Pager({ page, size, total, onPage, onSize, noun }: { page: number; size: number; total: number; onPage: (page: number) => void; onSize: (size: number) => void; noun: string }) {
  const pages = Math.max(1, Math.ceil(total / size));
  const first = total === 0 ? 0 : (page - 1) * size + 1;
  const last = Math.min(total, page * size);
  const sizeId = useId();
  return (
    <nav className="pager" aria-label={`${noun} pages`}>
      <span role="status">
        {count(first)}–{count(last)} of {count(total)} {noun}
      </span>
      <label htmlFor={sizeId}>Per page</label>
      <select id={sizeId} value={size} onChange={(e) => onSize(Number(e.target.value))}>
        {[20, 50, 100].map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
      <button type="button" onClick={() => onPage(page - 1)} disabled={page <= 1}>
        Previous
      </button>
      <span>
        Page {count(page)} of {count(pages)}
      </span>
      <button type="button" onClick={() => onPage(page + 1)} disabled={page >= pages}>
        Next
      </button>
    </nav>
  );
}

export function Labels({ labels }: { labels: string[] }) {
  if (labels.length === 0) return null;
  return (
    <ul className="labels" aria-label="Labels">
      {labels.map((l) => (
        <li key={l} className="label">
          {l}
        </li>
      ))}
    </ul>
  );
}
