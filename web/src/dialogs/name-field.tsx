/** A name input that checks the name rule as you type and says the rule when it fails. */
import { useId } from 'react';
import { NAME_RULE_TEXT, nameProblem } from '../format.js';
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

export function TypeCards({ value, onChange, legend }: { value: 'docker' | 'helm'; onChange: (v: 'docker' | 'helm') => void; legend: string }) {
  const name = useId();
  return (
    <fieldset className="type-cards">
      <legend>{legend}</legend>
      {(['docker', 'helm'] as const).map((t) => (
        <label key={t} className={`type-card${value === t ? ' selected' : ''}`}>
          <input type="radio" name={name} value={t} checked={value === t} onChange={() => onChange(t)} />
          <span aria-hidden="true" className="type-card-icon">
            <TypeIcon type={t} size={32} />
          </span>
          <span className="type-name">{t === 'docker' ? 'Docker' : 'Helm'}</span>
          <span className="hint">{t === 'docker' ? 'Container images (OCI)' : 'Helm charts (OCI and chart repository)'}</span>
        </label>
      ))}
    </fieldset>
  );
}
