import { z } from 'zod';
import { conflict, notFound } from '../errors/errors.ts';
import { isUniqueViolation } from '../db/errors.ts';
import type { Patient } from '../generated/prisma/client.ts';
import type {
  CreatePatientInput,
  PatientFilter,
  UpdatePatientInput,
} from '../generated/graphql.ts';
import { type Connection, decodeCursor, pageSize } from '../graphql/paging.ts';
import { boundedText, notInFuture, parseId, parseInput } from '../graphql/validation.ts';
import type { PatientRepository } from './patient.repository.ts';

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
    private readonly maxPageSize: number,
  ) {}

  get(id: string): Promise<Patient | null> {
    return this.patients.findById(parseId(id, 'id'));
  }

  getByMrn(value: string): Promise<Patient | null> {
    return this.patients.findByMrn(parseInput(mrn, value, 'mrn'));
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

  async create(input: CreatePatientInput): Promise<Patient> {
    const data = parseInput(createSchema, input);
    return this.patients.create(data).catch((error: unknown) => rethrowDuplicateMrn(error, data.mrn));
  }

  async update(id: string, input: UpdatePatientInput): Promise<Patient> {
    const patient = await this.requireActive(parseId(id, 'id'));
    const data = parseInput(updateSchema, input);
    return this.patients.update(patient.id, data).catch((error: unknown) => rethrowDuplicateMrn(error, data.mrn));
  }

  async archive(id: string): Promise<Patient> {
    const patient = await this.requireActive(parseId(id, 'id'));
    return this.patients.update(patient.id, { archivedAt: new Date() });
  }

  /** The patient, which must exist and not be archived (archived records are read-only). */
  async requireActive(id: string): Promise<Patient> {
    const patient = await this.patients.findById(id);
    if (!patient) throw notFound(`No patient with id ${id}.`, { id });
    if (patient.archivedAt) throw conflict('This patient record is archived and cannot be changed.', { id });
    return patient;
  }
}

function rethrowDuplicateMrn(error: unknown, value: string | undefined): never {
  if (isUniqueViolation(error)) {
    throw conflict(`A patient with MRN ${value} already exists.`, { field: 'input.mrn' });
  }
  throw error;
}
