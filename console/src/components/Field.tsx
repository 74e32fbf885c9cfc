import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from 'react';
import { FieldError } from './errors.tsx';

interface FieldProps {
  label: string;
  /** The name the server uses for this input in extensions.field / .argument, e.g. "input.mrn". */
  serverName?: string;
  error?: unknown;
}

/** A labelled input with the server's error for it right beside it. */
export function TextField({ label, serverName, error, ...input }: FieldProps & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-describedby={`${id}-error`} {...input} />
      {serverName && <FieldError error={error} name={serverName} id={`${id}-error`} />}
    </div>
  );
}

export function SelectField({ label, serverName, error, children, ...select }: FieldProps & SelectHTMLAttributes<HTMLSelectElement> & { children: ReactNode }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} aria-describedby={`${id}-error`} {...select}>
        {children}
      </select>
      {serverName && <FieldError error={error} name={serverName} id={`${id}-error`} />}
    </div>
  );
}
