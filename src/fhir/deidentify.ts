import { createHmac } from 'node:crypto';
import type { CodeableConcept, Coding, Encounter, Observation as FhirObservation, Patient as FhirPatient, Quantity } from '@medplum/fhirtypes';
import { type Case, caseEnd, caseStart, type Observation } from '../cases/case.repository.ts';
import type { Patient } from '../patients/patient.repository.ts';
import { type CodeCatalog, ucumSystem } from './code-catalog.ts';
import { toFhirEncounter, toFhirObservation } from './fhir-resources.ts';
import { isStandardTerminology, isUcumCode } from './terminology-systems.ts';

/*
 * The de-identification profiles of bulk exports. Both remove names,
 * telecom, addresses, free text and every other direct identifier, replace
 * MRNs and ids by keyed pseudonyms (HMAC-SHA256 with a secret key, the same in
 * every export, so cohorts can be followed), group ages over 89 as 90+ and
 * suppress groups of fewer than k patients sharing the quasi-identifiers (age
 * band, sex, 3-digit ZIP). They differ in dates:
 * - `safe-harbor` (HIPAA Safe Harbor, 45 CFR 164.514(b)(2)): every date is
 *   reduced to its year; no birth year over 89.
 * - `shifted-dates`: every date of a patient shifted by the same keyed offset
 *   (the same in every export of that patient), so intervals survive for
 *   longitudinal research. Shifted full dates are not Safe Harbor: this is a
 *   limited-data-set / expert-determination style profile, for recipients
 *   bound by such an agreement.
 */

/** The de-identification profiles, the first the default. */
export const deidentificationProfiles = ['safe-harbor', 'shifted-dates'] as const;
export type DeidentificationProfile = (typeof deidentificationProfiles)[number];

const pseudonymSystem = 'urn:clinigraph:pseudonym';
const ageBandUrl = 'urn:clinigraph:fhir:StructureDefinition:age-band';
const maxShiftDays = 180;
const dayMs = 86_400_000;

/** Keyed pseudonyms and date shifts under one secret key. */
export class Pseudonymizer {
  constructor(private readonly key: string) {}

  /** A stable pseudonym of an identifier of a kind (patient id, MRN, case id, ...). */
  pseudonym(kind: string, value: string): string {
    return createHmac('sha256', this.key).update(`${kind}\u0000${value}`).digest('hex').slice(0, 32);
  }

  /** The patient's date offset in days: keyed, never zero, within ±180. */
  shiftDays(patientId: string): number {
    const n = createHmac('sha256', this.key).update(`date-shift\u0000${patientId}`).digest().readUInt32BE(0);
    const days = (n % (2 * maxShiftDays)) - maxShiftDays;
    return days >= 0 ? days + 1 : days;
  }

  shift(date: Date, patientId: string): Date {
    return new Date(date.getTime() + this.shiftDays(patientId) * dayMs);
  }
}

/** Pseudonyms, and dates as the profile writes them. */
export class Deidentifier {
  constructor(
    readonly profile: DeidentificationProfile,
    readonly pseudonyms: Pseudonymizer,
  ) {}

  /**
   * Each profile has pseudonyms of its own, so records of a Safe Harbor export
   * (real years) cannot be joined to the same records of a shifted-dates
   * export (shifted days), which would undo the shift. Shifted dates keep the
   * pseudonyms of the exports made before profiles existed.
   */
  pseudonym(kind: string, value: string): string {
    return this.pseudonyms.pseudonym(this.profile === 'shifted-dates' ? kind : `${this.profile}\u0000${kind}`, value);
  }

  /** A calendar date (a birth date) of the patient: its year, or shifted to the day. */
  day(date: Date, patientId: string): string {
    return this.profile === 'safe-harbor' ? String(date.getUTCFullYear()) : this.pseudonyms.shift(date, patientId).toISOString().slice(0, 10);
  }

  /** A time (a visit, an observation) of the patient: its year, or shifted to the millisecond. */
  instant(date: Date, patientId: string): string {
    return this.profile === 'safe-harbor' ? String(date.getUTCFullYear()) : this.pseudonyms.shift(date, patientId).toISOString();
  }
}

/** Completed years between a birth date and a day. */
export function ageOn(birthDate: Date, day: Date): number {
  let age = day.getUTCFullYear() - birthDate.getUTCFullYear();
  const before = day.getUTCMonth() < birthDate.getUTCMonth() || (day.getUTCMonth() === birthDate.getUTCMonth() && day.getUTCDate() < birthDate.getUTCDate());
  if (before) age -= 1;
  return age;
}

/** Five-year age bands, with everyone over 89 in one band (Safe Harbor). */
export function ageBand(age: number): string {
  if (age > 89) return '90+';
  const low = Math.floor(age / 5) * 5;
  return `${low}-${low + 4}`;
}

/** The first three digits of the ZIP code in an address, when it has a five-digit one. */
export function zip3(address: string | null): string {
  return /\b(\d{3})\d{2}(?:-\d{4})?\b/.exec(address ?? '')?.[1] ?? '*';
}

/** The quasi-identifiers k-anonymity is measured over. */
function quasiIdentifiers(patient: Patient, today: Date): string {
  return [ageBand(ageOn(patient.birthDate, today)), patient.sex, zip3(patient.address)].join('|');
}

export interface KAnonymity {
  k: number;
  /** Groups of patients sharing the quasi-identifiers, and the smallest kept. */
  groups: number;
  smallestKeptGroup: number | null;
  patientsKept: number;
  patientsSuppressed: number;
}

/**
 * Patients counted into groups sharing the quasi-identifiers, a page at a
 * time as an export reads them (so no step groups everyone at once); once all
 * are counted, those in groups of at least k are kept and the others suppressed.
 */
export class QuasiIdentifierGroups {
  private readonly sizes = new Map<string, number>();
  private readonly groupOf = new Map<string, string>();

  constructor(private readonly today: Date) {}

  add(patients: Patient[]): void {
    for (const patient of patients) {
      const group = quasiIdentifiers(patient, this.today);
      this.groupOf.set(patient.id, group);
      this.sizes.set(group, (this.sizes.get(group) ?? 0) + 1);
    }
  }

  /** Whether the patient (counted before) is in a group of at least k. */
  keeps(patient: Patient, k: number): boolean {
    return (this.sizes.get(this.groupOf.get(patient.id)!) ?? 0) >= k;
  }

  report(k: number): KAnonymity {
    const kept = [...this.sizes.values()].filter((size) => size >= k);
    const patientsKept = kept.reduce((sum, size) => sum + size, 0);
    return { k, groups: this.sizes.size, smallestKeptGroup: kept.length ? Math.min(...kept) : null, patientsKept, patientsSuppressed: this.groupOf.size - patientsKept };
  }
}

/** A patient with nothing but pseudonyms, sex, the birth date as the profile writes it (none over 89) and the age band. */
export function deidentifiedPatient(patient: Patient, p: Deidentifier, today: Date): FhirPatient {
  const age = ageOn(patient.birthDate, today);
  return {
    resourceType: 'Patient',
    id: p.pseudonym('Patient', patient.id),
    identifier: [{ system: pseudonymSystem, value: p.pseudonym('MRN', patient.mrn) }],
    gender: ({ FEMALE: 'female', MALE: 'male', OTHER: 'other', UNKNOWN: 'unknown' } as const)[patient.sex],
    ...(age > 89 ? {} : { birthDate: p.day(patient.birthDate, patient.id) }),
    extension: [{ url: ageBandUrl, valueString: ageBand(age) }],
  };
}

/** An encounter with pseudonymous ids, its period as the profile writes dates, and no title (free text). */
export function deidentifiedEncounter(episode: Case, p: Deidentifier): Encounter {
  const shifted = (date: Date) => p.instant(date, episode.patientId);
  const { type: _title, ...encounter } = toFhirEncounter(episode);
  const end = caseEnd(episode);
  return {
    ...encounter,
    id: p.pseudonym('Case', episode.id),
    subject: { reference: `Patient/${p.pseudonym('Patient', episode.patientId)}` },
    period: { start: shifted(caseStart(episode)), ...(end ? { end: shifted(end) } : {}) },
  };
}

/**
 * An observation with pseudonymous ids and its time as the profile writes it.
 * Only codings of published terminologies are kept (a sender's own code may
 * be anything it typed, a name included) and no text a sender wrote: the
 * code keeps the model feature's coding (with its display, from the feature
 * specification) and the standard codings it was sent with, or is masked
 * when it had none. A text value is kept only when it is the code of the
 * standard coding it was sent as (valueCodeableConcept), written back as
 * that coding; any other text is free text (a name, an MRN, a telephone
 * number may be one word) and is dropped.
 */
export function deidentifiedObservation(observation: Observation, episode: Case, catalog: CodeCatalog, p: Deidentifier, sentCodings: Coding[] = [], valueCoding?: Coding): FhirObservation {
  const coded = observation.text !== null && valueCoding?.code === observation.text && isStandardTerminology(valueCoding.system) ? valueCoding : undefined;
  const resource = toFhirObservation({ ...observation, text: null }, episode, catalog, sentCodings);
  resource.code = standardCode(observation.code, catalog, sentCodings);
  if (resource.valueQuantity) resource.valueQuantity = ucumQuantity(resource.valueQuantity);
  if (observation.value === null) {
    delete resource.valueString;
    if (coded) resource.valueCodeableConcept = { coding: [coded] };
    else resource.dataAbsentReason = { coding: [masked] };
  }
  return {
    ...resource,
    id: p.pseudonym('Observation', observation.id),
    subject: { reference: `Patient/${p.pseudonym('Patient', episode.patientId)}` },
    encounter: { reference: `Encounter/${p.pseudonym('Case', episode.id)}` },
    effectiveDateTime: p.instant(observation.observedAt, episode.patientId),
  };
}

/**
 * A quantity with its unit as UCUM codes it only: the code (and the unit
 * when it is that code); a unit a sender wrote as free text ('mg/dL per Dr
 * Smith', or an annotation such as 'mg/dL{Smith}') goes, the value stays.
 */
function ucumQuantity(quantity: Quantity): Quantity {
  if (!isUcumCode(quantity.code)) return { value: quantity.value };
  return { value: quantity.value, ...(quantity.unit === quantity.code ? { unit: quantity.unit } : {}), system: ucumSystem, code: quantity.code };
}

const masked: Coding = { system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'masked' };

/** An observation's code with the feature's coding and the standard codings it was sent with only; masked when none is left. */
function standardCode(storedCode: string, catalog: CodeCatalog, sentCodings: Coding[]): CodeableConcept {
  const feature = catalog.featureCodingOf(storedCode);
  const sent = sentCodings.filter((coding) => isStandardTerminology(coding.system) && !(coding.system === feature?.system && coding.code === feature?.code));
  const coding = [...(feature ? [feature] : []), ...sent];
  if (coding.length === 0) return { coding: [masked] };
  return { coding, ...(feature?.display ? { text: feature.display } : {}) };
}
