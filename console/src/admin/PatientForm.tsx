import { useState, type FormEvent } from 'react';
import { SelectField, TextField } from '../components/Field.tsx';
import type { AdministrativeSex } from '../generated/graphql.ts';

export interface PatientFormValues {
  mrn: string;
  givenName: string;
  familyName: string;
  birthDate: string;
  sex: AdministrativeSex;
  phone: string;
  email: string;
  address: string;
}

const empty: PatientFormValues = { mrn: '', givenName: '', familyName: '', birthDate: '', sex: 'UNKNOWN', phone: '', email: '', address: '' };
const labels: Record<keyof PatientFormValues, string> = {
  mrn: 'MRN',
  givenName: 'Given name',
  familyName: 'Family name',
  birthDate: 'Birth date',
  sex: 'Sex',
  phone: 'Phone',
  email: 'E-mail',
  address: 'Address',
};
/** The server's names for these inputs (extensions.field), so its errors land beside them. */
export const patientFormFields = Object.keys(labels).map((name) => `input.${name}`);

/** Create or edit a patient record; the server validates, and its errors appear beside each field. */
export function PatientForm({ initial, submitLabel, busy, error, onSubmit }: { initial?: Partial<PatientFormValues>; submitLabel: string; busy: boolean; error: unknown; onSubmit: (values: PatientFormValues) => void }) {
  const [values, setValues] = useState<PatientFormValues>({ ...empty, ...initial });
  const set = (name: keyof PatientFormValues) => (event: { target: { value: string } }) => setValues({ ...values, [name]: event.target.value });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onSubmit(values);
  };
  return (
    <form onSubmit={submit}>
      <div className="grid">
        {(['mrn', 'givenName', 'familyName'] as const).map((name) => (
          <TextField key={name} label={labels[name]} value={values[name]} onChange={set(name)} serverName={`input.${name}`} error={error} />
        ))}
        <TextField label={labels.birthDate} type="date" value={values.birthDate} onChange={set('birthDate')} serverName="input.birthDate" error={error} />
        <SelectField label={labels.sex} value={values.sex} onChange={set('sex')} serverName="input.sex" error={error}>
          {['FEMALE', 'MALE', 'OTHER', 'UNKNOWN'].map((sex) => (
            <option key={sex} value={sex}>
              {sex.toLowerCase()}
            </option>
          ))}
        </SelectField>
        {(['phone', 'email', 'address'] as const).map((name) => (
          <TextField key={name} label={labels[name]} value={values[name]} onChange={set(name)} serverName={`input.${name}`} error={error} />
        ))}
      </div>
      <div className="actions">
        <button type="submit" disabled={busy}>
          {submitLabel}
        </button>
      </div>
    </form>
  );
}
