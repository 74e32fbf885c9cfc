import type { Coding, Device, Encounter, EpisodeOfCare, Extension, Observation as FhirObservation, Patient as FhirPatient, RiskAssessment } from '@medplum/fhirtypes';
import { type Case, caseEnd, caseStart, type Observation } from '../cases/case.repository.ts';
import type { Model } from '../models/model.repository.ts';
import type { Patient } from '../patients/patient.repository.ts';
import type { Prediction } from '../predictions/prediction.repository.ts';
import type { ModelVersionSummary } from '../models/model.repository.ts';
import type { StoredExplanation } from '../predictions/explanation.ts';
import type { SaliencyMap } from '../pipeline/index.ts';
import { type CodeCatalog, ucumSystem } from './code-catalog.ts';

/*
 * clinigraph's records as FHIR R4 resources. Each maps one stored row; ids are
 * the rows' ids, so a location an import answered reads back.
 */

/** Identifier system of MRNs this server writes when FHIR_MRN_SYSTEM is not set. */
export const defaultMrnSystem = 'urn:clinigraph:mrn';
/** The extension carrying a prediction's largest feature attributions (README "FHIR R4"). */
const explanationExtensionUrl = 'urn:clinigraph:fhir:StructureDefinition:explanation-feature';
/** Identifier system of a model version's weight digest. */
const weightsDigestSystem = 'urn:clinigraph:weights-sha256';
const v2IdentifierTypes = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const topFeatures = 5;

const genders = { FEMALE: 'female', MALE: 'male', OTHER: 'other', UNKNOWN: 'unknown' } as const;

export function toFhirPatient(patient: Patient, mrnSystem: string): FhirPatient {
  return {
    resourceType: 'Patient',
    id: patient.id,
    meta: { lastUpdated: patient.updatedAt.toISOString() },
    identifier: [{ type: { coding: [{ system: v2IdentifierTypes, code: 'MR' }] }, system: mrnSystem, value: patient.mrn }],
    active: patient.archivedAt === null,
    name: [{ use: 'official', family: patient.familyName, given: [patient.givenName] }],
    gender: genders[patient.sex],
    birthDate: patient.birthDate.toISOString().slice(0, 10),
    ...(patient.phone || patient.email
      ? {
          telecom: [
            ...(patient.phone ? [{ system: 'phone' as const, value: patient.phone }] : []),
            ...(patient.email ? [{ system: 'email' as const, value: patient.email }] : []),
          ],
        }
      : {}),
    ...(patient.address ? { address: [{ text: patient.address }] } : {}),
    ...(patient.mergedIntoId ? { link: [{ other: { reference: `Patient/${patient.mergedIntoId}` }, type: 'replaced-by' as const }] } : {}),
  };
}

export function toFhirEncounter(episode: Case): Encounter {
  return {
    resourceType: 'Encounter',
    id: episode.id,
    status: episode.status === 'OPEN' ? 'in-progress' : 'finished',
    // clinigraph does not record the encounter's class; R4 requires one.
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK', display: 'unknown' },
    type: [{ text: episode.title }],
    subject: { reference: `Patient/${episode.patientId}` },
    period: casePeriod(episode),
  };
}

export function toFhirEpisodeOfCare(episode: Case): EpisodeOfCare {
  return {
    resourceType: 'EpisodeOfCare',
    id: episode.id,
    status: episode.status === 'OPEN' ? 'active' : 'finished',
    type: [{ text: episode.title }],
    patient: { reference: `Patient/${episode.patientId}` },
    period: casePeriod(episode),
  };
}

/** A case's period: from when it began to when it ended, each as its source recorded it, else when it was opened (closed) here. */
function casePeriod(episode: Case): { start: string; end?: string } {
  const end = caseEnd(episode);
  return { start: caseStart(episode).toISOString(), ...(end ? { end: end.toISOString() } : {}) };
}

/** An observation as FHIR: coded as its feature (or stored code) reads, then as it was sent, when it was imported with codings. */
export function toFhirObservation(observation: Observation, episode: Case, catalog: CodeCatalog, sentCodings: Coding[] = []): FhirObservation {
  const coding = catalog.codingOf(observation.code);
  const others = sentCodings.filter((sent) => sent.system !== coding.system || sent.code !== coding.code);
  return {
    resourceType: 'Observation',
    id: observation.id,
    status: 'final',
    code: { coding: [coding, ...others], text: coding.display ?? observation.code },
    subject: { reference: `Patient/${episode.patientId}` },
    encounter: { reference: `Encounter/${episode.id}` },
    effectiveDateTime: observation.observedAt.toISOString(),
    ...(observation.value !== null
      ? { valueQuantity: { value: observation.value, ...(observation.unit ? { unit: observation.unit, system: ucumSystem, code: catalog.ucumOf(observation.code, observation.unit) } : {}) } }
      : { valueString: observation.text ?? '' }),
  };
}

/** What a RiskAssessment is built from: the prediction, its case, the model version, and the observations its input came from. */
export interface PredictionView {
  prediction: Prediction;
  model: Model;
  version: ModelVersionSummary;
  basis: Observation[];
}

interface StoredOutput {
  label?: string;
  probabilities?: Record<string, number>;
  value?: number;
  outcomeLabel?: string;
}

/**
 * A prediction as a RiskAssessment: the model version as performer and
 * method, the observations used as basis, each class's probability (or the
 * predicted value for regression models, in an extension), and the largest
 * feature attributions of the explanation in the explanation-feature extension.
 */
export function toRiskAssessment({ prediction, model, version, basis }: PredictionView): RiskAssessment {
  const output = prediction.output as StoredOutput;
  const extension = explanationExtensions(prediction.explanation as StoredExplanation | null);
  return {
    resourceType: 'RiskAssessment',
    id: prediction.id,
    status: 'final',
    subject: { reference: `Patient/${prediction.patientId}` },
    encounter: { reference: `Encounter/${prediction.caseId}` },
    occurrenceDateTime: prediction.createdAt.toISOString(),
    performer: { reference: `Device/${version.id}`, display: `${model.name} version ${version.version}` },
    method: { coding: [{ system: 'urn:clinigraph:model', code: model.name, display: `${model.name} version ${version.version}` }], text: model.description },
    basis: basis.map((observation) => ({ reference: `Observation/${observation.id}` })),
    prediction: output.probabilities
      ? Object.entries(output.probabilities).map(([label, probability]) => ({ outcome: { text: label }, probabilityDecimal: probability }))
      : [{ outcome: { text: output.outcomeLabel ?? model.target }, rationale: `Predicted value: ${output.value}` }],
    ...(extension.length ? { extension } : {}),
  };
}

/**
 * The explanation's largest attributions as extensions, whatever its method:
 * integrated gradients' feature attributions (in the output's units), or a
 * saliency map's pixels of largest gradient (per unit of the pixel's value).
 */
function explanationExtensions(explanation: StoredExplanation | null): Extension[] {
  if (!explanation) return [];
  const features = explanation.method === 'gradient-saliency' ? salientPixels(explanation) : explanation.attributions;
  return features.slice(0, topFeatures).map((attribution) => ({
    url: explanationExtensionUrl,
    extension: [
      { url: 'feature', valueString: attribution.feature },
      { url: 'attribution', valueDecimal: attribution.attribution },
      { url: 'text', valueString: attribution.text },
      { url: 'method', valueString: explanation.method },
    ],
  }));
}

/** A saliency map's pixels, largest gradient (either sign) first, named as the image model's features are (px0, px1, ... row-major). */
function salientPixels(map: SaliencyMap): { feature: string; attribution: number; text: string }[] {
  return map.values
    .flatMap((row, r) => row.map((gradient, c) => ({ r, c, gradient })))
    .sort((a, b) => Math.abs(b.gradient) - Math.abs(a.gradient))
    .map(({ r, c, gradient }) => ({
      feature: `px${r * map.width + c}`,
      attribution: gradient,
      text: `More ink at row ${r}, column ${c} would ${gradient >= 0 ? 'raise' : 'lower'} the probability of ${map.label} (gradient ${gradient.toPrecision(3)} per unit of the pixel).`,
    }));
}

/** A model version as a Device: the model's name, the version number, the weight digest, whether it is in use. */
export function toDevice(model: Model, version: ModelVersionSummary): Device {
  return {
    resourceType: 'Device',
    id: version.id,
    status: version.stage === 'ARCHIVED' ? 'inactive' : 'active',
    identifier: [{ system: weightsDigestSystem, value: version.weightsSha256 }],
    deviceName: [{ name: model.name, type: 'model-name' }],
    version: [{ value: String(version.version) }],
    type: { text: `clinical prediction model (${model.task.toLowerCase()})` },
    note: [{ text: `${model.description} Stage ${version.stage.toLowerCase()}, trained ${version.trainedAt.toISOString()} by ${version.trainedBy}.` }],
  };
}
