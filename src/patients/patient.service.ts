import { z } from 'zod';
import { conflict, notFound } from '../errors/errors.ts';
import { isUniqueViolation } from '../db/errors.ts';
import type {
  CreatePatientInput,
  PatientFilter,
  UpdatePatientInput,
} from '../generated/graphql.ts';
import { type Connection, decodeCursor, pageSize } from '../graphql/paging.ts';
import { boundedText, isId, notInFuture, parseId, parseInput } from '../graphql/validation.ts';
import { recordingFailure } from '../access/audited-transaction.ts';
import type { AuditTrail } from '../access/audit-trail.ts';
import type { Patient, PatientAlong, PatientRepository } from './patient.repository.ts';

const earliestBirthDate = new Date('1900-01-01T00:00:00Z');

const mrn = boundedText(64).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
  message: 'may hold only letters, digits, ".", "_" and "-"',
});
const name = boundedText(100);
const birthDate = notInFuture('the birth date').refine((date) => date >= earliestBirthDate, {
  message: 'must be on or after 1900-01-01',
});
const optionalContact = (max: number) => boundedText(max).nullish();

const createSchema = z.object({
  mrn,
  givenName: name,
  familyName: name,
  birthDate,
  sex: z.enum(['FEMALE', 'MALE', 'OTHER', 'UNKNOWN']),
  phone: optionalContact(40),
  email: optionalContact(254),
  address: optionalContact(500),
});

// Required fields may be left out of an update but not set to null.
const updateSchema = createSchema.extend({
  mrn: mrn.optional(),
  givenName: name.optional(),
  familyName: name.optional(),
  birthDate: birthDate.optional(),
  sex: createSchema.shape.sex.optional(),
});

const filterSchema = z.object({
  nameContains: boundedText(100).nullish(),
  mrn: mrn.nullish(),
  includeArchived: z.boolean().nullish(),
});

/** Rules for patient records: validation, uniqueness of the MRN, archiving instead of deleting. */
export class PatientService {
  constructor(
    private readonly patients: PatientRepository,
    private readonly trail: AuditTrail,
    private readonly maxPageSize: number,
  ) {}

  /** @param along rows of another domain the client selected under the patient, read in the same statement */
  get(id: string, along?: PatientAlong): Promise<Patient | null> {
    return this.patients.findById(parseId(id, 'id'), along);
  }

  getByMrn(value: string): Promise<Patient | null> {
    return this.patients.findByMrn(parseInput(mrn, value, 'mrn'));
  }

  /** The id of the patient with this MRN among those the caller may write (an import matching the hospital's record); the record is not read. */
  idByMrnForWrite(value: string, permission: 'patient.write' | 'clinical.write', action: 'patient.update' | 'case.open'): Promise<string | null> {
    return this.patients.findIdByMrnForWrite(parseInput(mrn, value, 'mrn'), permission, action);
  }

  /** An auditor's lookup: the id only, so the audit log can be searched by patient without reading the record. */
  idByMrnForAudit(value: string): Promise<string | null> {
    return this.patients.findIdByMrnForAudit(parseInput(mrn, value, 'mrn'));
  }

  list(filter: PatientFilter | null | undefined, first: number, after: string | null | undefined): Promise<Connection<Patient>> {
    const parsed = parseInput(filterSchema, filter ?? {}, 'filter');
    return this.patients.list(
      {
        nameContains: parsed.nameContains ?? undefined,
        mrn: parsed.mrn ?? undefined,
        includeArchived: parsed.includeArchived ?? false,
      },
      pageSize(first, this.maxPageSize),
      after ? decodeCursor(after) : undefined,
    );
  }

  create(input: CreatePatientInput): Promise<Patient> {
    return recordingFailure(this.trail, 'patient.create', { resourceType: 'Patient' }, async () => {
      const data = parseInput(createSchema, input);
      return this.patients.create(data).catch((error: unknown) => rethrowDuplicateMrn(error, data.mrn));
    });
  }

  update(id: string, input: UpdatePatientInput): Promise<Patient> {
    return recordingFailure(this.trail, 'patient.update', target(id), async () => {
      const patient = await this.requireActive(parseId(id, 'id'));
      const data = parseInput(updateSchema, input);
      return this.patients.update(patient.id, data, 'patient.update').catch((error: unknown) => rethrowDuplicateMrn(error, data.mrn));
    });
  }

  archive(id: string): Promise<Patient> {
    return recordingFailure(this.trail, 'patient.archive', target(id), async () => {
      const patient = await this.requireActive(parseId(id, 'id'));
      return this.patients.update(patient.id, { archivedAt: new Date() }, 'patient.archive');
    });
  }

  /** Merges a duplicate record into the surviving one (admins). */
  merge(duplicateId: string, survivorId: string): Promise<Patient> {
    return recordingFailure(this.trail, 'patient.merge', { resourceType: 'Patient', resourceIds: [duplicateId, survivorId].filter(isId) }, async () => {
      const duplicate = await this.requireActive(parseId(duplicateId, 'duplicateId'));
      const survivor = await this.requireActive(parseId(survivorId, 'survivorId'));
      if (duplicate.id === survivor.id) throw conflict('A record cannot be merged into itself.', { argument: 'survivorId' });
      return this.patients.merge(duplicate.id, survivor.id);
    });
  }

  /** The patient, which must exist (and be within the caller's reach). */
  async requireExisting(id: string): Promise<Patient> {
    const patient = await this.patients.findById(id);
    if (!patient) throw notFound(`No patient with id ${id}.`, { id });
    return patient;
  }

  /** The patient, which must exist and not be archived (archived records are read-only). */
  async requireActive(id: string): Promise<Patient> {
    const patient = await this.requireExisting(id);
    if (patient.archivedAt) throw conflict('This patient record is archived and cannot be changed.', { id });
    return patient;
  }
}

const target = (id: string) => ({ resourceType: 'Patient', resourceIds: isId(id) ? [id] : [] });

function rethrowDuplicateMrn(error: unknown, value: string | undefined): never {
  if (isUniqueViolation(error)) {
    throw conflict(`A patient with MRN ${value} already exists.`, { field: 'input.mrn' });
  }
  throw error;
}
