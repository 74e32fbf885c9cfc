import { z } from 'zod';
import { recordingFailure } from '../access/audited-transaction.ts';
import type { Action } from '../access/permissions.ts';
import type { AuditTrail } from '../access/audit-trail.ts';
import { badInput, conflict, notFound } from '../errors/errors.ts';
import type { CaseImageInput, ObservationInput, OpenCaseInput } from '../generated/graphql.ts';
import { boundedText, isId, notInFuture, parseId, parseInput } from '../graphql/validation.ts';
import type { PatientAlong } from '../patients/patient.repository.ts';
import type { PatientService } from '../patients/patient.service.ts';
import { type AlongColumn, type Case, caseEnd, type CaseChildren, type CaseImage, type CaseRepository, type CaseWithInputs, type Observation, type PredictionInputs } from './case.repository.ts';

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

const openCaseSchema = z.object({ patientId: z.string(), title: boundedText(200), startedAt: notInFuture('the start of the case').nullish() });

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

const caseTarget = (id: string) => ({ resourceType: 'Case', resourceIds: isId(id) ? [id] : [] });

/** Rules for episodes of care: cases belong to active patients, only open cases take new data. */
export class CaseService {
  constructor(
    private readonly cases: CaseRepository,
    private readonly patients: PatientService,
    private readonly trail: AuditTrail,
  ) {}

  get(id: string): Promise<Case | null> {
    return this.cases.findById(parseId(id, 'id'));
  }

  /** One observation with its case (null when absent, for a reach over every patient). */
  observation(id: string): Promise<{ observation: Observation; episode: Case } | null> {
    return this.cases.findObservation(parseId(id, 'id'));
  }

  /** The case, which must exist and be within reach for the given write. */
  async requireForWrite(id: string, argument: string, action: Action): Promise<Case> {
    const found = await this.cases.findForWrite(parseId(id, argument), action);
    if (!found) throw notFound(`No case with id ${id}.`, { argument });
    return found;
  }

  /**
   * The case a prediction is made on, which must exist and be within reach,
   * with its inputs as they are now on the primary database (its observations
   * and images, or the patient's observation history) and its patient's AI
   * consent, in one round trip; `along`, a column of another domain's, rides in it too.
   */
  async requireWithInputs(id: string, argument: string, action: Action, inputs: PredictionInputs, along?: AlongColumn): Promise<CaseWithInputs> {
    const found = await this.cases.findWithInputs(parseId(id, argument), action, inputs, along);
    if (!found) throw notFound(`No case with id ${id}.`, { argument });
    return found;
  }

  /** What a patient's read brings along of the patient's cases; undefined when they are read on their own. */
  alongPatient(children: CaseChildren): PatientAlong | undefined {
    return this.cases.alongPatient(children);
  }

  listForPatient(patientId: string, children: CaseChildren): Promise<Case[]> {
    return this.cases.listForPatient(patientId, children);
  }

  observations(episode: Case): Promise<Observation[]> {
    return this.cases.observations(episode);
  }

  images(episode: Case): Promise<CaseImage[]> {
    return this.cases.images(episode);
  }

  open(input: OpenCaseInput): Promise<Case> {
    return recordingFailure(this.trail, 'case.open', { resourceType: 'Patient' }, async () => {
      const data = parseInput(openCaseSchema, input);
      const patient = await this.patients.requireActive(parseId(data.patientId, 'input.patientId'));
      return this.cases.open({ patientId: patient.id, title: data.title, startedAt: data.startedAt ?? null });
    });
  }

  /**
   * Changes a case's title or the time its episode began (open or closed: a
   * correction from its source); a start after the case's end is refused.
   */
  update(id: string, changes: { title?: string; startedAt?: Date }): Promise<Case> {
    return recordingFailure(this.trail, 'case.update', caseTarget(id), async () => {
      const existing = await this.requireForWrite(id, 'id', 'case.update');
      const end = caseEnd(existing);
      if (changes.startedAt && end && changes.startedAt > end) throw badInput('The case cannot start after it ended.', { field: 'startedAt' });
      return this.cases.update(existing, changes);
    });
  }

  /**
   * Closes an open case.
   * @param endedAt when the episode ended as its source recorded it (an import's checked period.end); null: now
   */
  close(id: string, endedAt: Date | null = null): Promise<Case> {
    return recordingFailure(this.trail, 'case.close', caseTarget(id), async () => {
      const existing = await this.requireForWrite(id, 'id', 'case.close');
      const closed = await this.cases.close(existing, endedAt);
      if (!closed) throw conflict('This case is already closed.', { id: existing.id });
      return closed;
    });
  }

  addObservations(caseId: string, observations: ObservationInput[]): Promise<Observation[]> {
    return recordingFailure(this.trail, 'observation.create', caseTarget(caseId), async () => {
      const existing = await this.requireForWrite(caseId, 'caseId', 'observation.create');
      const rows = parseInput(observationsSchema, observations, 'observations');
      const added = await this.cases.addObservations(
        existing,
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
    });
  }

  addImage(caseId: string, image: CaseImageInput): Promise<CaseImage> {
    return recordingFailure(this.trail, 'image.create', caseTarget(caseId), async () => {
      const existing = await this.requireForWrite(caseId, 'caseId', 'image.create');
      const data = parseInput(imageSchema, image, 'image');
      const added = await this.cases.addImage(existing, {
        code: data.code,
        width: data.width,
        height: data.height,
        pixels: data.pixels,
        ...(data.observedAt ? { observedAt: data.observedAt } : {}),
      });
      if (!added) throw conflict('Images cannot be added to a closed case.', { argument: 'caseId' });
      return added;
    });
  }
}
