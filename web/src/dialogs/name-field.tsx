/** A name input that checks the name rule as you type and says the rule when it fails; the type cards. */
import { useId } from 'react';
import { NAME_RULE_TEXT, nameProblem } from '../format.js';
import type { PackageType } from '../package-types.js';
import { TypeIcon } from '../ui.js';

export function NameField({ label, value, onChange, touched }: { label: string; value: string; onChange: (v: string) => void; touched: boolean }) {
  const id = useId();
  const problem = value !== '' || touched ? nameProblem(value) : null;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        autoComplete="off"
        spellCheck={false}
        aria-invalid={problem ? true : undefined}
        aria-describedby={`${id}-hint`}
        required
      />
      <p id={`${id}-hint`} className={problem ? 'field-error' : 'hint'} aria-live="polite">
        {problem ?? NAME_RULE_TEXT}
      </p>
    </div>
  );
}

/** One card per package type the server serves, in its order. */
export function TypeCards({ types, value, onChange, legend }: { types: PackageType[]; value: string; onChange: (v: string) => void; legend: string }) {
  const name = useId();
  return (
    <fieldset className="type-cards">
      <legend>{legend}</legend>
      {types.map((t) => (
        <label key={t.type} className={`type-card${value === t.type ? ' selected' : ''}`}>
          <input type="radio" name={name} value={t.type} checked={value === t.type} onChange={() => onChange(t.type)} />
          <span aria-hidden="true" className="type-card-icon">
            <TypeIcon type={t.type} size={32} />
          </span>
          <span className="type-name">{t.label}</span>
          <span className="hint">{t.description}</span>
        </label>
      ))}
    </fieldset>
  );
}
