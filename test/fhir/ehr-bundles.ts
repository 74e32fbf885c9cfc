import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Encounter, Observation, Patient } from '@medplum/fhirtypes';

/*
 * Bundles written the way EHR exports write them: urn:uuid fullUrls and
 * references between entries, several identifiers per patient, several
 * codings per code (LOINC and the hospital's own), UCUM quantities,
 * CodeableConcept values, a blood-pressure panel with components, a value
 * absent with its reason, and extensions clinigraph does not use. Every entry
 * is a conditional write, so sending the same Bundle twice changes nothing.
 */

export const hospitalMrnSystem = 'urn:oid:2.16.840.1.113883.19.5.99999.2';
export const visitSystem = 'urn:oid:2.16.840.1.113883.19.5.99999.3';
export const resultSystem = 'urn:oid:2.16.840.1.113883.19.5.99999.4';
export const localLab = 'http://hospital.example.org/fhir/CodeSystem/lab';
const loinc = 'http://loinc.org';
const ucum = 'http://unitsofmeasure.org';
const race = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race';

export interface EhrPatient {
  mrn: string;
  given: string;
  family: string;
  birthDate: string;
  gender: 'female' | 'male';
  postalCode: string;
}

/** A person of the export (a fictitious name and MRN per index). */
export function ehrPatient(prefix: string, i: number): EhrPatient {
  const given = ['Amelia', 'Bruno', 'Chiara', 'Dmitri', 'Esther', 'Farouk', 'Greta', 'Hiroshi'][i % 8]!;
  const family = ['Okafor', 'Lindqvist', 'Moreau', 'Tanaka', 'Castillo', 'Novak', 'Haddad', 'Bergstrom'][(i * 3) % 8]!;
  return {
    mrn: `${prefix}-${String(100000 + i)}`,
    given,
    family: `${family}${i}`,
    birthDate: `19${40 + (i % 55)}-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 27) + 1).padStart(2, '0')}`,
    gender: i % 2 ? 'male' : 'female',
    postalCode: `0${2100 + (i % 40)}`,
  };
}

const conditional = (type: string, system: string, value: string): BundleEntry['request'] => ({ method: 'POST', url: type, ifNoneExist: `identifier=${system}|${value}` });

export function patientEntry(person: EhrPatient): BundleEntry<Patient> {
  return {
    fullUrl: `urn:uuid:${randomUUID()}`,
    resource: {
      resourceType: 'Patient',
      meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'] },
      extension: [{ url: race, extension: [{ url: 'text', valueString: 'Unknown' }] }],
      identifier: [
        { use: 'usual', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical Record Number' }] }, system: hospitalMrnSystem, value: person.mrn },
        { use: 'secondary', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PI' }] }, system: 'urn:oid:2.16.840.1.113883.19.5.99999.1', value: `PI${person.mrn}` },
      ],
      active: true,
      name: [
        { use: 'official', family: person.family, given: [person.given] },
        { use: 'nickname', given: [person.given.slice(0, 3)] },
      ],
      telecom: [{ system: 'phone', value: '+1 555 0100', use: 'home' }],
      gender: person.gender,
      birthDate: person.birthDate,
      address: [{ use: 'home', line: ['12 Harbour Road'], city: 'Springfield', state: 'MA', postalCode: person.postalCode, country: 'US' }],
    },
    request: { method: 'PUT', url: `Patient?identifier=${hospitalMrnSystem}|${person.mrn}` },
  };
}

export function encounterEntry(patientUrl: string, visit: string, status: Encounter['status'] = 'in-progress'): BundleEntry<Encounter> {
  return {
    fullUrl: `urn:uuid:${randomUUID()}`,
    resource: {
      resourceType: 'Encounter',
      identifier: [{ system: visitSystem, value: visit }],
      status,
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
      type: [{ coding: [{ system: 'http://snomed.info/sct', code: '185349003', display: 'Encounter for check up' }], text: 'Diabetes follow-up' }],
      subject: { reference: patientUrl },
      period: { start: '2026-03-02T09:00:00+01:00' },
    },
    request: conditional('Encounter', visitSystem, visit),
  };
}

/** An observation entry; `id` is the lab result's identifier (what makes the create conditional). */
export function observationEntry(patientUrl: string, encounterUrl: string, id: string, body: Partial<Observation>): BundleEntry<Observation> {
  return {
    fullUrl: `urn:uuid:${randomUUID()}`,
    resource: {
      resourceType: 'Observation',
      identifier: [{ system: resultSystem, value: id }],
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
      subject: { reference: patientUrl },
      encounter: { reference: encounterUrl },
      effectiveDateTime: '2026-03-02T09:15:00+01:00',
      extension: [{ url: 'http://hospital.example.org/fhir/StructureDefinition/analyser', valueString: 'Cobas 8000' }],
      code: { text: 'observation' },
      ...body,
    },
    request: conditional('Observation', resultSystem, id),
  };
}

const codes = (loincCode: string, local: string, display: string) => ({ coding: [{ system: loinc, code: loincCode, display }, { system: localLab, code: local }], text: display });
const quantity = (value: number, code: string) => ({ value, unit: code, system: ucum, code });

/** The observations one visit of a patient carries: labs in various units, vitals, a panel, a coded value, an absent value. */
export function visitObservations(patientUrl: string, encounterUrl: string, key: string): BundleEntry<Observation>[] {
  const entry = (suffix: string, body: Partial<Observation>) => observationEntry(patientUrl, encounterUrl, `${key}-${suffix}`, body);
  return [
    entry('bmi', { code: codes('39156-5', 'BMI', 'Body mass index'), valueQuantity: quantity(27.4, 'kg/m2') }),
    // Cholesterol reported in g/L: the model reads mg/dL.
    entry('chol', { code: codes('2093-3', 'CHOL', 'Cholesterol [Mass/volume] in Serum or Plasma'), valueQuantity: quantity(1.92, 'g/L') }),
    entry('glu', { code: codes('2345-7', 'GLU', 'Glucose'), valueQuantity: quantity(101, 'mg/dL') }),
    entry('bp', {
      code: codes('85354-9', 'BPPANEL', 'Blood pressure panel with all children optional'),
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      component: [
        { code: codes('8480-6', 'SBP', 'Systolic blood pressure'), valueQuantity: quantity(132, 'mm[Hg]') },
        { code: codes('8462-4', 'DBP', 'Diastolic blood pressure'), valueQuantity: quantity(84, 'mm[Hg]') },
      ],
    }),
    entry('smoke', { code: codes('72166-2', 'SMOKE', 'Tobacco smoking status'), valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '8517006', display: 'Ex-smoker' }] } }),
    entry('hdl', { code: codes('2085-9', 'HDL', 'HDL cholesterol'), dataAbsentReason: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-performed' }] } }),
  ];
}

/** A transaction (or batch) Bundle of `patients` patients, each with one visit and its observations (8 resources a patient). */
export function ehrBundle(prefix: string, patients: number, type: 'transaction' | 'batch' = 'transaction'): Bundle {
  const entry: BundleEntry[] = [];
  for (let i = 0; i < patients; i++) {
    const person = patientEntry(ehrPatient(prefix, i));
    const visit = encounterEntry(person.fullUrl!, `${prefix}-V${i}`);
    entry.push(person, visit, ...visitObservations(person.fullUrl!, visit.fullUrl!, `${prefix}-${i}`));
  }
  return { resourceType: 'Bundle', type, timestamp: '2026-03-02T12:00:00+01:00', entry };
}
