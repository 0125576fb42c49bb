/**
 * The per-registry settings of a registry's format, drawn from what the format declares
 * (`GET /package-types` → `settings`): a checkbox for a boolean, a select for a string with
 * allowed values, a text field for any other string, a number field (with its bounds) for an
 * integer. No format is named here; a format without settings draws nothing.
 */
import { useId } from 'react';
import type { PackageType } from '../api.js';

export type SettingValue = boolean | string | number;
export type SettingSpecs = PackageType['settings'];

/** The values that differ from `before` (what a PATCH sends). */
export function changedSettings(before: Record<string, SettingValue>, after: Record<string, SettingValue>): Record<string, SettingValue> {
  const out: Record<string, SettingValue> = {};
  for (const [key, value] of Object.entries(after)) if (before[key] !== value) out[key] = value;
  return out;
}

export function FormatSettingsFields({ specs, values, onChange }: { specs: SettingSpecs; values: Record<string, SettingValue>; onChange: (next: Record<string, SettingValue>) => void }) {
  const entries = Object.entries(specs);
  if (entries.length === 0) return null;
  return (
    <fieldset className="settings-fields card">
      <legend>Format settings</legend>
      {entries.map(([key, spec]) => (
        <SettingField key={key} name={key} spec={spec} value={values[key] ?? spec.default} onChange={(value) => onChange({ ...values, [key]: value })} />
      ))}
    </fieldset>
  );
}

/** `allowOverwrite` → `Allow overwrite`. */
function label(key: string): string {
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function SettingField({ name, spec, value, onChange }: { name: string; spec: SettingSpecs[string]; value: SettingValue; onChange: (value: SettingValue) => void }) {
  const id = useId();
  const hint = <p id={`${id}-hint`} className="hint">{spec.description}</p>;
  if (spec.type === 'boolean') {
    return (
      <div className="field">
        <label className="check" htmlFor={id}>
          <input id={id} type="checkbox" checked={value === true} aria-describedby={`${id}-hint`} onChange={(e) => onChange(e.target.checked)} />
          {label(name)}
        </label>
        {hint}
      </div>
    );
  }
  return (
    <div className="field">
      <label htmlFor={id}>{label(name)}</label>
      {spec.type === 'string' && spec.enum ? (
        <select id={id} value={String(value)} aria-describedby={`${id}-hint`} onChange={(e) => onChange(e.target.value)}>
          {spec.enum.map((option) => (
            <option key={option} value={option}>
              {option}
            </option>
          ))}
        </select>
      ) : spec.type === 'integer' ? (
        <input
          id={id}
          type="number"
          step={1}
          min={spec.minimum}
          max={spec.maximum}
          value={String(value)}
          aria-describedby={`${id}-hint`}
          onChange={(e) => onChange(e.target.value === '' ? spec.default : Number(e.target.value))}
        />
      ) : (
        <input id={id} value={String(value)} aria-describedby={`${id}-hint`} onChange={(e) => onChange(e.target.value)} />
      )}
      {hint}
    </div>
  );
}
