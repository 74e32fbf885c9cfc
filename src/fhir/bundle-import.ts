import type { Bundle, BundleEntry, CodeableConcept, Coding, Encounter, EpisodeOfCare, Identifier, Observation, ObservationComponent, Patient, Quantity, Reference, Resource } from '@medplum/fhirtypes';
import type { Patient as PatientRow } from '../patients/patient.repository.ts';
import { type Case, caseEnd, caseStart } from '../cases/case.repository.ts';
import type { ObservationInput } from '../generated/graphql.ts';
import type { RequestContext } from '../server/context.ts';
import { type CodeCatalog, loincSystem, toFeatureUnit } from './code-catalog.ts';
import { type FhirIdentifierRepository, identifierKey, type ResourceIdentifier } from './fhir-identifier.repository.ts';
import type { FhirObservationCodingRepository } from './fhir-observation-coding.repository.ts';
import { defaultMrnSystem } from './fhir-resources.ts';
import { type FhirError, fhirError, toFhirError } from './operation-outcome.ts';
import { isStandardTerminology } from './terminology-systems.ts';
import { validate } from './validation.ts';

/** Resource types an import takes, in the order a Bundle's entries are processed (what others refer to comes first). */
const importOrder = ['Patient', 'Encounter', 'EpisodeOfCare', 'Observation'] as const;
type ImportedType = (typeof importOrder)[number];

/** One entry of a Bundle, checked: what it asks for, where it is (for error paths). */
export interface ImportEntry {
  index: number;
  fullUrl: string | undefined;
  resource: Patient | Encounter | EpisodeOfCare | Observation;
  method: 'POST' | 'PUT';
  /** The search of a conditional create (ifNoneExist) or update (PUT Type?identifier=...). */
  condition: ResourceIdentifier | undefined;
  /** PUT Type/{id}: the record to update. */
  targetId: string | undefined;
}

/** A row to store, the codings its value was sent under and, for a coded value, the coding its text is the code of. */
interface SentRow {
  row: ObservationInput;
  codings: Coding[];
  valueCoding?: Coding;
}

/** Where an entry of the Bundle was stored. */
export interface StoredEntry {
  reference: string;
  patientId: string;
}

/** What one entry did, as the transaction-response reports it. */
export interface EntryResult {
  status: '200 OK' | '201 Created';
  location?: string;
  /** Information for the client (e.g. an observation without a value, not stored). */
  note?: string;
  /** The patient the stored record belongs to (for the import's audit record). */
  patientId?: string;
}

const v2IdentifierTypes = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const sexes = { female: 'FEMALE', male: 'MALE', other: 'OTHER', unknown: 'UNKNOWN' } as const;
const storedCode = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const maxObservationsPerCall = 500;
/** What a conditional update of a known observation is answered: clinigraph keeps observations as first stored (predictions name them as their basis). */
const keptAsStored = 'Not changed: observations are kept as first stored, since predictions name them as their basis. Send a correction as a new Observation with its own identifier.';

/**
 * Checks a Bundle's shape and every resource in it (FHIR structure, with
 * Medplum's validator) before anything is stored.
 * @throws FhirError 400 for a Bundle this server cannot process, 422 naming the entry and element at fault
 */
export function parseImportBundle(body: unknown): { type: 'transaction' | 'batch'; entries: ImportEntry[] } {
  const bundle = body as Bundle;
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') throw fhirError(400, 'invalid', 'POST /fhir/R4 takes a Bundle.', 'Bundle');
  if (bundle.type !== 'transaction' && bundle.type !== 'batch') throw fhirError(400, 'not-supported', 'Only transaction and batch Bundles are processed.', 'Bundle.type');
  if (!Array.isArray(bundle.entry) || bundle.entry.length === 0) throw fhirError(400, 'required', 'The Bundle has no entries.', 'Bundle.entry');
  return { type: bundle.type, entries: bundle.entry.map((entry, index) => parseEntry(entry, index)) };
}

function parseEntry(entry: BundleEntry, index: number): ImportEntry {
  const at = `Bundle.entry[${index}]`;
  const resource = entry.resource as Resource | undefined;
  if (!resource || !importOrder.includes(resource.resourceType as ImportedType)) {
    throw fhirError(422, 'not-supported', `Imports take ${importOrder.join(', ')}; this entry holds ${resource?.resourceType ?? 'no resource'}.`, `${at}.resource.resourceType`);
  }
  const method = entry.request?.method;
  if (method !== 'POST' && method !== 'PUT') throw fhirError(422, 'not-supported', 'Each entry must be a POST (create) or PUT (update).', `${at}.request.method`);
  try {
    validate(resource);
  } catch (error) {
    throw (error as FhirError).under(`${at}.resource`, resource.resourceType);
  }
  const url = entry.request?.url ?? '';
  const conditionText = method === 'POST' ? entry.request?.ifNoneExist : url.includes('?') ? url.slice(url.indexOf('?') + 1) : undefined;
  const condition = conditionText === undefined ? undefined : identifierSearch(resource.resourceType, conditionText, `${at}.request.${method === 'POST' ? 'ifNoneExist' : 'url'}`);
  const byId = method === 'PUT' && !url.includes('?') ? /^[A-Za-z]+\/([0-9a-f-]{36})$/i.exec(url)?.[1] : undefined;
  if (method === 'PUT' && !condition && !byId) throw fhirError(422, 'invalid', 'A PUT needs Type/{id} or Type?identifier=system|value.', `${at}.request.url`);
  return { index, fullUrl: entry.fullUrl, resource: resource as ImportEntry['resource'], method, condition, targetId: byId?.toLowerCase() };
}

/** Parses the one search conditional writes support here: identifier=system|value. */
function identifierSearch(resourceType: string, search: string, expression: string): ResourceIdentifier {
  const params = new URLSearchParams(search.startsWith('?') ? search.slice(1) : search);
  const value = params.get('identifier');
  if ([...params.keys()].length !== 1 || !value || !value.includes('|')) {
    throw fhirError(422, 'not-supported', 'Conditional writes search by identifier=system|value only.', expression);
  }
  const [system, code] = [value.slice(0, value.indexOf('|')), value.slice(value.indexOf('|') + 1)];
  if (!system || !code) throw fhirError(422, 'invalid', 'The identifier needs both a system and a value.', expression);
  return { resourceType, system, value: code };
}

/**
 * Stores the entries of one Bundle (or one entry of a batch) through the
 * same services as GraphQL, in the order importOrder gives: patients (by
 * MRN), encounters and episodes of care as cases, observations on their
 * cases. Conditional creates and updates find earlier imports by identifier,
 * and unchanged records are not written again.
 */
export class BundleImport {
  /** Cases the Bundle says are finished, with when they ended (period.end, if given): closed once their observations are in. */
  private readonly finished = new Map<string, Date | null>();

  constructor(
    private readonly context: RequestContext,
    private readonly identifiers: FhirIdentifierRepository,
    private readonly codings: FhirObservationCodingRepository,
    private readonly catalog: CodeCatalog,
    private readonly mrnSystem: string | undefined,
    /** Where each fullUrl (urn:uuid:...) of the Bundle was stored; shared by the entries of a batch, which run one by one. */
    private readonly stored = new Map<string, StoredEntry>(),
  ) {}

  /** Stores entries; any refusal is thrown as a FhirError naming the entry. */
  async run(entries: ImportEntry[]): Promise<Map<number, EntryResult>> {
    const results = new Map<number, EntryResult>();
    const ordered = [...entries].sort((a, b) => importOrder.indexOf(a.resource.resourceType) - importOrder.indexOf(b.resource.resourceType));
    for (const entry of ordered.filter((e) => e.resource.resourceType !== 'Observation')) {
      const result = await this.guarded(entry, () => (entry.resource.resourceType === 'Patient' ? this.patient(entry) : this.encounter(entry)));
      results.set(entry.index, result);
      if (entry.fullUrl && result.location) this.stored.set(entry.fullUrl, { reference: result.location, patientId: result.patientId! });
    }
    const observations = ordered.filter((e) => e.resource.resourceType === 'Observation');
    for (const [index, result] of await this.observations(observations)) results.set(index, result);
    for (const [caseId, endedAt] of this.finished) await this.context.cases.close(caseId, endedAt).catch(ignoreAlreadyClosed);
    return results;
  }

  /** Runs one entry's work, placing any refusal under the entry. */
  private async guarded<T>(entry: ImportEntry, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      const refusal = toFhirError(error);
      throw refusal.issues.some((i) => i.expression?.[0]?.startsWith('Bundle.')) ? refusal : refusal.under(`Bundle.entry[${entry.index}].resource`, entry.resource.resourceType);
    }
  }

  private async patient(entry: ImportEntry): Promise<EntryResult> {
    const resource = entry.resource as Patient;
    const input = this.patientInput(resource);
    const existing = await this.existingPatient(entry, input.mrn.value);
    const links = [{ resourceType: 'Patient', ...input.mrn }, ...(entry.condition ? [entry.condition] : [])];
    if (existing && entry.method === 'POST' && entry.condition) return this.linked('Patient', existing.id, existing.id, links, '200 OK');
    if (existing && entry.method === 'PUT') {
      const changed = changedFields(existing, input.fields);
      const patient = Object.keys(changed).length ? await this.context.patients.update(existing.id, changed) : existing;
      return this.linked('Patient', patient.id, patient.id, links, '200 OK');
    }
    if (entry.targetId) throw fhirError(404, 'not-found', `No patient with id ${entry.targetId}.`, `Bundle.entry[${entry.index}].request.url`);
    const patient = await this.context.patients.create({ mrn: input.mrn.value, ...input.fields });
    return this.linked('Patient', patient.id, patient.id, links, '201 Created');
  }

  /**
   * The patient a conditional or by-id write names, or (for a create) the one
   * with the same MRN, looked up among those the caller may write (the
   * hospital's MRN is one patient, whoever registered it); the caller becomes
   * one of the patient's importers, so it reads back what it wrote.
   */
  private async existingPatient(entry: ImportEntry, mrn: string): Promise<PatientRow | null> {
    const byCondition = entry.condition ? (await this.identifiers.find('patient.write', 'patient.update', [entry.condition])).get(identifierKey(entry.condition))?.targetId : undefined;
    // The MRN is unique: an earlier patient with it is this one (GraphQL-registered or imported before).
    const byMrn = !byCondition && !entry.targetId && (entry.condition || entry.method === 'PUT') ? await this.context.patients.idByMrnForWrite(mrn, 'patient.write', 'patient.update') : null;
    const id = entry.targetId ?? byCondition ?? byMrn;
    if (!id || !(await this.identifiers.importedBy('patient.write', 'patient.update', [id]))) return null;
    return this.context.patients.get(id);
  }

  private patientInput(resource: Patient) {
    const mrn = this.mrnOf(resource.identifier);
    const name = resource.name?.find((n) => n.use === 'official') ?? resource.name?.[0];
    const givenName = name?.given?.join(' ');
    if (!name?.family || !givenName) throw fhirError(422, 'required', 'The patient needs a family and a given name.', 'Patient.name');
    if (!resource.birthDate) throw fhirError(422, 'required', 'The patient needs a birth date.', 'Patient.birthDate');
    const telecom = (system: string) => resource.telecom?.find((t) => t.system === system && t.value)?.value ?? null;
    const address = resource.address?.[0];
    const addressText = address ? (address.text ?? [...(address.line ?? []), address.city, address.state, address.postalCode, address.country].filter(Boolean).join(', ')) : null;
    return {
      mrn,
      fields: {
        givenName,
        familyName: name.family,
        birthDate: new Date(`${resource.birthDate.length === 4 ? `${resource.birthDate}-01-01` : resource.birthDate.length === 7 ? `${resource.birthDate}-01` : resource.birthDate}T00:00:00Z`),
        sex: sexes[resource.gender ?? 'unknown'],
        phone: telecom('phone'),
        email: telecom('email'),
        address: addressText || null,
      },
    };
  }

  /** The MRN: the identifier typed MR, or the one in FHIR_MRN_SYSTEM. */
  private mrnOf(identifiers: Identifier[] | undefined): { system: string; value: string } {
    const isMrn = (id: Identifier) => (this.mrnSystem && id.system === this.mrnSystem) || id.type?.coding?.some((c) => c.code === 'MR' && (!c.system || c.system === v2IdentifierTypes));
    const mrn = identifiers?.find((id) => isMrn(id) && id.value);
    if (!mrn?.value) throw fhirError(422, 'required', `The patient needs a medical record number: an identifier typed MR${this.mrnSystem ? ` or in ${this.mrnSystem}` : ''}.`, 'Patient.identifier');
    return { system: mrn.system ?? this.mrnSystem ?? defaultMrnSystem, value: mrn.value };
  }

  private async encounter(entry: ImportEntry): Promise<EntryResult> {
    const resource = entry.resource as Encounter | EpisodeOfCare;
    const type = resource.resourceType;
    const subject = resource.resourceType === 'Encounter' ? resource.subject : resource.patient;
    const patientId = await this.patientOf(subject, `${type}.${type === 'Encounter' ? 'subject' : 'patient'}`);
    const links = [...identifiersOf(type, resource.identifier), ...(entry.condition ? [entry.condition] : [])];
    const existingId = entry.targetId ?? (entry.condition ? (await this.identifiers.find('clinical.write', 'case.open', [entry.condition])).get(identifierKey(entry.condition))?.targetId : undefined);
    const done = resource.status === 'finished' || resource.status === 'cancelled';
    const startedAt = startOf(resource);
    if (existingId) {
      const known = await this.context.cases.requireForWrite(existingId, 'id', 'case.open');
      const episode = entry.method === 'PUT' ? await this.updatedCase(known, resource, startedAt) : known;
      if (done && episode.status === 'OPEN' && entry.method === 'PUT') this.finished.set(episode.id, endOf(resource, caseStart(episode)));
      return this.linked(type, episode.id, episode.patientId, links, '200 OK');
    }
    // Without period.start the case starts as it is opened: now. An unfinished episode's end is a plan (an expected discharge), not kept.
    const endedAt = done ? endOf(resource, startedAt ?? new Date()) : null;
    const episode = await this.context.cases.open({ patientId, title: encounterTitle(resource), startedAt });
    if (done) this.finished.set(episode.id, endedAt);
    return this.linked(type, episode.id, patientId, links, '201 Created');
  }

  /** Stores the observations, grouped by case (one write per case and 500 rows); conditional creates found earlier are skipped. */
  private async observations(entries: ImportEntry[]): Promise<Map<number, EntryResult>> {
    const results = new Map<number, EntryResult>();
    const conditions = entries.flatMap((entry) => (entry.condition ? [entry.condition] : []));
    const known = await this.identifiers.find('clinical.write', 'observation.create', conditions);
    const toStore = new Map<string, { entry: ImportEntry; rows: SentRow[]; patientId: string }[]>();
    for (const entry of entries) {
      await this.guarded(entry, async () => {
        const resource = entry.resource as Observation;
        const found = entry.condition && known.get(identifierKey(entry.condition));
        if (found) return results.set(entry.index, { status: '200 OK', location: `Observation/${found.targetId}`, patientId: found.patientId, ...(entry.method === 'PUT' ? { note: keptAsStored } : {}) });
        const patientId = await this.patientOf(resource.subject, 'Observation.subject');
        const caseId = await this.caseOf(resource.encounter, patientId);
        const rows = this.observationRows(resource);
        if (rows.length === 0) return results.set(entry.index, { status: '200 OK', note: 'Not stored: the observation has no value (dataAbsentReason).' });
        toStore.set(caseId, [...(toStore.get(caseId) ?? []), { entry, rows, patientId }]);
      });
    }
    for (const [caseId, items] of toStore) {
      for (const chunk of chunks(items, maxObservationsPerCall)) {
        const stored = await this.guarded(chunk[0]!.entry, () => this.context.cases.addObservations(caseId, chunk.flatMap((item) => item.rows.map(({ row }) => row))));
        let next = 0;
        const links = [];
        const sent = [];
        for (const { entry, rows, patientId } of chunk) {
          const first = stored[next]!;
          sent.push(...rows.map(({ codings, valueCoding }, i) => ({ observationId: stored[next + i]!.id, codings, valueCoding })));
          next += rows.length;
          results.set(entry.index, { status: '201 Created', location: `Observation/${first.id}`, patientId });
          links.push(...identifiersOf('Observation', (entry.resource as Observation).identifier).map((id) => ({ ...id, targetId: first.id, patientId })));
          if (entry.condition) links.push({ ...entry.condition, targetId: first.id, patientId });
        }
        await this.identifiers.link('clinical.write', 'observation.create', links);
        await this.codings.keep(sent);
      }
    }
    return results;
  }

  /** An observation's stored rows (each with the codings of the code it was sent under): its value, or each component's (a blood-pressure panel is two rows); none when absent. */
  private observationRows(resource: Observation): SentRow[] {
    const observedAt = effectiveTime(resource);
    const rows: SentRow[] = [];
    const own = this.valueRow(resource.code, resource, 'Observation');
    if (own) rows.push({ row: own, codings: resource.code.coding ?? [], valueCoding: codedValue(resource) });
    resource.component?.forEach((component, i) => {
      const row = this.valueRow(component.code, component, `Observation.component[${i}]`);
      if (row) rows.push({ row, codings: component.code.coding ?? [], valueCoding: codedValue(component) });
    });
    if (rows.length === 0 && !resource.dataAbsentReason && !resource.component?.length) {
      throw fhirError(422, 'required', 'The observation has no value, no components and no dataAbsentReason.', 'Observation.value[x]');
    }
    return rows.map((sent) => ({ ...sent, row: { ...sent.row, ...(observedAt ? { observedAt } : {}) } }));
  }

  private valueRow(code: CodeableConcept, holder: Observation | ObservationComponent, at: string): ObservationInput | undefined {
    const feature = this.catalog.match(code.coding);
    const name = feature?.feature ?? storedCodeOf(code, `${at}.code`);
    if (holder.valueQuantity) {
      const quantity = holder.valueQuantity;
      if (quantity.value === undefined) throw fhirError(422, 'required', 'The quantity has no value.', `${at}.valueQuantity.value`);
      if (!feature) return { code: name, value: quantity.value, unit: unitOf(quantity) };
      const converted = toFeatureUnit(quantity, feature);
      if ('refused' in converted) throw fhirError(422, 'value', converted.refused, `${at}.valueQuantity.code`);
      return { code: name, value: converted.value, unit: converted.unit };
    }
    if (holder.valueInteger !== undefined) return { code: name, value: holder.valueInteger };
    const text = holder.valueCodeableConcept ? (keptValueCoding(holder)?.code ?? holder.valueCodeableConcept.text) : (holder.valueString ?? (holder.valueBoolean === undefined ? undefined : String(holder.valueBoolean)));
    if (text !== undefined) return { code: name, text };
    return undefined;
  }

  /**
   * A known case as an update (PUT) of its Encounter or EpisodeOfCare leaves
   * it: a changed title or period.start is written (and audited as
   * `case.update`); the same resource sent again changes nothing. A closed
   * case's end stays as it was closed.
   */
  private async updatedCase(episode: Case, resource: Encounter | EpisodeOfCare, startedAt: Date | null): Promise<Case> {
    const title = encounterTitle(resource);
    const changes = { ...(title !== episode.title ? { title } : {}), ...(startedAt && startedAt.getTime() !== caseStart(episode).getTime() ? { startedAt } : {}) };
    if (Object.keys(changes).length === 0) return episode;
    const end = caseEnd(episode);
    if (changes.startedAt && end && changes.startedAt > end) {
      throw fhirError(422, 'value', `The period would start after the case ended (${end.toISOString()}).`, `${resource.resourceType}.period.start`);
    }
    return this.context.cases.update(episode.id, changes);
  }

  /**
   * The patient a reference names (an entry of this Bundle, Patient/{id}, or
   * Patient?identifier=system|value), among those the caller may write
   * clinical data of; the caller becomes one of its importers.
   */
  private async patientOf(reference: Reference | undefined, expression: string): Promise<string> {
    const target = reference?.reference;
    if (!target) throw fhirError(422, 'required', 'The resource must name its patient.', expression);
    const inBundle = this.stored.get(target);
    if (inBundle) return inBundle.patientId;
    if (target.startsWith('urn:')) throw fhirError(422, 'not-found', `${target} is not a Patient of this Bundle.`, expression);
    const byId = /^Patient\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i.exec(target)?.[1]?.toLowerCase();
    let id = byId;
    if (!id && target.startsWith('Patient?')) {
      const search = identifierSearch('Patient', target.slice('Patient?'.length), expression);
      const found = (await this.identifiers.find('clinical.write', 'case.open', [search])).get(identifierKey(search));
      id = found?.targetId ?? (await this.context.patients.idByMrnForWrite(search.value, 'clinical.write', 'case.open')) ?? undefined;
    }
    if (id && (await this.identifiers.importedBy('clinical.write', 'case.open', [id]))) return (await this.context.patients.requireActive(id)).id;
    throw fhirError(422, 'not-found', `No patient matches ${target}.`, expression);
  }

  /** The case of an observation's encounter (an entry of this Bundle or Encounter/{id}), which must be the observation's patient's. */
  private async caseOf(reference: Reference | undefined, patientId: string): Promise<string> {
    const target = reference?.reference;
    if (!target) throw fhirError(422, 'required', 'clinigraph keeps observations on a case: name the Encounter or EpisodeOfCare.', 'Observation.encounter');
    const inBundle = this.stored.get(target);
    const caseId = inBundle?.reference.split('/')[1] ?? /^(?:Encounter|EpisodeOfCare)\/([0-9a-f-]{36})$/i.exec(target)?.[1]?.toLowerCase();
    if (!caseId) throw fhirError(422, 'not-found', `${target} is not an Encounter of this Bundle or of clinigraph.`, 'Observation.encounter');
    const episode = inBundle ? { patientId: inBundle.patientId } : await this.context.cases.requireForWrite(caseId, 'id', 'observation.create');
    if (episode.patientId !== patientId) throw fhirError(422, 'invalid', 'The encounter belongs to another patient.', 'Observation.encounter');
    return caseId;
  }

  private async linked(type: string, id: string, patientId: string, identifiers: ResourceIdentifier[], status: EntryResult['status']): Promise<EntryResult> {
    const permission = type === 'Patient' ? 'patient.write' : 'clinical.write';
    await this.identifiers.link(permission, 'fhir.import', identifiers.map((identifier) => ({ ...identifier, targetId: id, patientId })));
    return { status, location: `${type}/${id}`, patientId };
  }
}

function identifiersOf(resourceType: string, identifiers: Identifier[] | undefined): ResourceIdentifier[] {
  return (identifiers ?? []).flatMap((id) => (id.system && id.value ? [{ resourceType, system: id.system, value: id.value }] : []));
}

/** The fields of an update that differ from the stored patient (an unchanged resource writes nothing). */
function changedFields(patient: PatientRow, fields: Record<string, unknown>): Record<string, unknown> {
  const same = (a: unknown, b: unknown) => (a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b);
  return Object.fromEntries(Object.entries(fields).filter(([key, value]) => !same(patient[key as keyof PatientRow], value)));
}

function encounterTitle(resource: Encounter | EpisodeOfCare): string {
  const type = resource.type?.[0];
  const identifier = resource.identifier?.[0]?.value;
  const title = type?.text ?? type?.coding?.[0]?.display ?? (resource.resourceType === 'Encounter' ? resource.class?.display : undefined);
  return (title ?? `Imported ${resource.resourceType}${identifier ? ` ${identifier}` : ''}`).slice(0, 200);
}

/** When an Encounter's period (an EpisodeOfCare's) began, if the resource says; never in the future. */
function startOf(resource: Encounter | EpisodeOfCare): Date | null {
  const start = resource.period?.start;
  if (!start) return null;
  const date = new Date(start);
  if (date.getTime() > Date.now()) throw fhirError(422, 'value', 'clinigraph keeps episodes that have begun: the period cannot start in the future.', `${resource.resourceType}.period.start`);
  return date;
}

/**
 * When an Encounter's period (an EpisodeOfCare's) ended, if the resource
 * says: not in the future, and not before the episode's start.
 */
function endOf(resource: Encounter | EpisodeOfCare, start: Date): Date | null {
  const end = resource.period?.end;
  if (!end) return null;
  const date = new Date(end);
  const expression = `${resource.resourceType}.period.end`;
  if (date.getTime() > Date.now()) throw fhirError(422, 'value', 'clinigraph keeps episodes that have ended: the period cannot end in the future.', expression);
  if (date < start) {
    const startText = resource.period?.start ? `its start (${resource.period.start})` : 'its start (without period.start, the episode starts when clinigraph opens it: now)';
    throw fhirError(422, 'value', `The period ends before ${startText}.`, expression);
  }
  return date;
}

function effectiveTime(resource: Observation): Date | undefined {
  const text = resource.effectiveDateTime ?? resource.effectiveInstant ?? resource.effectivePeriod?.start ?? resource.issued;
  return text ? new Date(text) : undefined;
}

/** The code an observation no feature names is stored under: its LOINC code, else its first coding's. */
function storedCodeOf(code: CodeableConcept, expression: string): string {
  const coding = code.coding?.find((c) => c.system === loincSystem) ?? code.coding?.[0];
  if (!coding?.code || !storedCode.test(coding.code)) throw fhirError(422, 'value', 'The observation needs a coding whose code clinigraph can store (letters, digits, . _ : -).', expression);
  return coding.code;
}

/** The coding a valueCodeableConcept's stored text is the code of, if it has one: a code, not free text. */
function codedValue(holder: Observation | ObservationComponent): Coding | undefined {
  const coding = keptValueCoding(holder);
  return coding?.system && coding.code ? { system: coding.system, code: coding.code } : undefined;
}

/**
 * The one coding of a valueCodeableConcept that is stored: its first of a
 * published terminology (SNOMED CT, LOINC, ...), else its first. A code of a
 * sender's own system is kept as sent but never leaves in a de-identified
 * export, so the standard one is the one worth keeping (as storedCodeOf
 * prefers LOINC for the code).
 */
function keptValueCoding(holder: Observation | ObservationComponent): Coding | undefined {
  const codings = (holder.valueCodeableConcept?.coding ?? []).filter((coding) => coding.code);
  return codings.find((coding) => isStandardTerminology(coding.system)) ?? codings[0];
}

function unitOf(quantity: Quantity): string | null {
  return (quantity.code ?? quantity.unit)?.slice(0, 32) ?? null;
}

function chunks<T>(items: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}

/** A case closed earlier (or by someone else meanwhile) is what a finished encounter asks for. */
function ignoreAlreadyClosed(error: unknown): void {
  if ((error as { extensions?: { code?: string } }).extensions?.code !== 'CONFLICT') throw error;
}

