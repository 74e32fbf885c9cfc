import { z } from 'zod';
import { conflict, notFound } from '../errors/errors.ts';
import type { Case, CaseImage, Observation } from '../generated/prisma/client.ts';
import type { CaseImageInput, ObservationInput, OpenCaseInput } from '../generated/graphql.ts';
import { boundedText, notInFuture, parseId, parseInput } from '../graphql/validation.ts';
import type { PatientService } from '../patients/patient.service.ts';
import type { CaseRepository } from './case.repository.ts';

/** How many observations one addObservations call may carry. */
export const maxObservationsPerCall = 500;
/** Image models here take small images; larger ones are refused before they reach the database. */
export const maxImageSide = 64;

const code = boundedText(64).regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, {
  message: 'may hold only letters, digits, ".", "_", ":" and "-"',
});
const observedAt = notInFuture('the observation time').nullish();

const observationSchema = z
  .object({
    code,
    value: z.number().finite().nullish(),
    text: boundedText(1000).nullish(),
    unit: boundedText(32).nullish(),
    observedAt,
  })
  .refine((o) => (o.value == null) !== (o.text == null), {
    message: 'give exactly one of `value` (numeric) or `text`',
  });

const observationsSchema = z
  .array(observationSchema)
  .min(1, { message: 'give at least one observation' })
  .max(maxObservationsPerCall, { message: `at most ${maxObservationsPerCall} observations per call` });

const openCaseSchema = z.object({ patientId: z.string(), title: boundedText(200) });

const side = z.number().int().min(1).max(maxImageSide);
const imageSchema = z
  .object({
    code,
    width: side,
    height: side,
    pixels: z.array(z.number().finite().min(0, { message: 'pixel intensities cannot be negative' })),
    observedAt,
  })
  .refine((image) => image.pixels.length === image.width * image.height, {
    message: 'pixels must hold exactly width x height values',
    path: ['pixels'],
  });

/** Rules for episodes of care: cases belong to active patients, only open cases take new data. */
export class CaseService {
  constructor(
    private readonly cases: CaseRepository,
    private readonly patients: PatientService,
  ) {}

  get(id: string): Promise<Case | null> {
    return this.cases.findById(parseId(id, 'id'));
  }

  /** The case, which must exist. */
  async require(id: string, argument: string): Promise<Case> {
    const found = await this.cases.findById(parseId(id, argument));
    if (!found) throw notFound(`No case with id ${id}.`, { argument });
    return found;
  }

  listForPatient(patientId: string): Promise<Case[]> {
    return this.cases.listForPatient(patientId);
  }

  observations(caseId: string): Promise<Observation[]> {
    return this.cases.observations(caseId);
  }

  images(caseId: string): Promise<CaseImage[]> {
    return this.cases.images(caseId);
  }

  async open(input: OpenCaseInput): Promise<Case> {
    const data = parseInput(openCaseSchema, input);
    const patient = await this.patients.requireActive(parseId(data.patientId, 'input.patientId'));
    return this.cases.open({ patientId: patient.id, title: data.title });
  }

  async close(id: string): Promise<Case> {
    const existing = await this.require(id, 'id');
    const closed = await this.cases.close(existing.id);
    if (!closed) throw conflict('This case is already closed.', { id: existing.id });
    return closed;
  }

  async addObservations(caseId: string, observations: ObservationInput[]): Promise<Observation[]> {
    const existing = await this.require(caseId, 'caseId');
    const rows = parseInput(observationsSchema, observations, 'observations');
    const added = await this.cases.addObservations(
      existing.id,
      rows.map((row) => ({
        code: row.code,
        value: row.value ?? null,
        text: row.text ?? null,
        unit: row.unit ?? null,
        ...(row.observedAt ? { observedAt: row.observedAt } : {}),
      })),
    );
    if (!added) throw conflict('Observations cannot be added to a closed case.', { argument: 'caseId' });
    return added;
  }

  async addImage(caseId: string, image: CaseImageInput): Promise<CaseImage> {
    const existing = await this.require(caseId, 'caseId');
    const data = parseInput(imageSchema, image, 'image');
    const added = await this.cases.addImage(existing.id, {
      code: data.code,
      width: data.width,
      height: data.height,
      pixels: data.pixels,
      ...(data.observedAt ? { observedAt: data.observedAt } : {}),
    });
    if (!added) throw conflict('Images cannot be added to a closed case.', { argument: 'caseId' });
    return added;
  }
}
