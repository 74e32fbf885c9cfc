import type { Bundle, Coding, Resource } from '@medplum/fhirtypes';
import type { Observation } from '../cases/case.repository.ts';
import type { RequestContext } from '../server/context.ts';
import type { CodeCatalog } from './code-catalog.ts';
import type { FhirIdentifierRepository } from './fhir-identifier.repository.ts';
import type { FhirObservationCodingRepository } from './fhir-observation-coding.repository.ts';
import { type PredictionView, toDevice, toFhirEncounter, toFhirEpisodeOfCare, toFhirObservation, toFhirPatient, toRiskAssessment } from './fhir-resources.ts';
import { fhirError } from './operation-outcome.ts';
import { repeatedParam, type SearchParams, singleParam } from './search-params.ts';

export type { SearchParams };

const noChildren = { observations: false, predictions: false };

/**
 * Reads and searches through the request's services: the same access
 * checks, care teams and read audit records as GraphQL. A record out of
 * reach reads as absent (the route answers 404 for both).
 */
export class FhirReads {
  constructor(
    private readonly context: RequestContext,
    private readonly identifiers: FhirIdentifierRepository,
    private readonly codings: FhirObservationCodingRepository,
    private readonly catalog: CodeCatalog,
    private readonly mrnSystem: string,
  ) {}

  async patient(id: string): Promise<Resource | null> {
    const patient = await this.context.patients.get(id);
    return patient && toFhirPatient(patient, this.mrnSystem);
  }

  async encounter(id: string): Promise<Resource | null> {
    const episode = await this.context.cases.get(id);
    return episode && toFhirEncounter(episode);
  }

  /** A case imported as an EpisodeOfCare reads back as one (as any case does). */
  async episodeOfCare(id: string): Promise<Resource | null> {
    const episode = await this.context.cases.get(id);
    return episode && toFhirEpisodeOfCare(episode);
  }

  /** One stored value (a panel's location is its first component's row). */
  async observation(id: string): Promise<Resource | null> {
    const found = await this.context.cases.observation(id);
    if (!found) return null;
    const sent = await this.codings.of([found.observation.id]);
    return toFhirObservation(found.observation, found.episode, this.catalog, sent.get(found.observation.id));
  }

  async riskAssessment(id: string): Promise<Resource | null> {
    const prediction = await this.context.predictions.get(id);
    if (!prediction) return null;
    const whole = await this.context.predictions.whole(prediction);
    // A sequence model read the patient's visits across cases: its basis is drawn from all of them.
    const observations = historyOf(whole)
      ? await this.patientObservations(prediction.patientId)
      : await this.context.cases.observations((await this.context.cases.get(prediction.caseId))!);
    return toRiskAssessment(await this.predictionView(whole, observations));
  }

  async device(id: string): Promise<Resource | null> {
    const version = await this.context.models.version(id);
    const model = version && (await this.context.models.byId(version.modelId));
    return version && model ? toDevice(model, version) : null;
  }

  /** Patient?identifier=system|value (or a bare MRN): a patient out of reach matches nothing. */
  async searchPatients(params: SearchParams): Promise<Resource[]> {
    const search = singleParam(params, 'identifier');
    if (!search) throw fhirError(400, 'not-supported', 'Search patients by identifier=system|value.', 'identifier');
    const [system, value] = search.includes('|') ? [search.slice(0, search.indexOf('|')), search.slice(search.indexOf('|') + 1)] : [undefined, search];
    const linked = system ? (await this.identifiers.find('patient.read', 'patient.read', [{ resourceType: 'Patient', system, value }])).values().next().value : undefined;
    const isMrn = !system || system === this.mrnSystem;
    const patient = linked ? await this.context.patients.get(linked.targetId) : isMrn ? await this.context.patients.getByMrn(value) : null;
    return patient ? [toFhirPatient(patient, this.mrnSystem)] : [];
  }

  async searchEncounters(params: SearchParams): Promise<Resource[]> {
    const cases = await this.context.cases.listForPatient(patientParam(params, 'patient', 'subject'), noChildren);
    return cases.map(toFhirEncounter);
  }

  /**
   * Observation?patient=...&code=[system|]code[,...]&date=[ge|le|gt|lt|eq]date,
   * oldest first. As FHIR search has it, a comma list is any of its values
   * and repeated parameters must all hold (date=ge2024-01-01&date=le2024-12-31).
   */
  async searchObservations(params: SearchParams): Promise<Resource[]> {
    const patientId = patientParam(params, 'patient', 'subject');
    const codeFilters = repeatedParam(params, 'code').map(codeFilter);
    const dateFilters = repeatedParam(params, 'date').map(dateFilter);
    const matchesCode = (codings: Coding[]) => codeFilters.every((matches) => codings.some(matches));
    const matchesDate = (time: Date) => dateFilters.every((matches) => matches(time));
    const cases = await this.context.cases.listForPatient(patientId, { observations: true, predictions: false });
    const resources: Resource[] = [];
    for (const episode of cases) {
      const observations = await this.context.cases.observations(episode);
      const sent = await this.codings.of(observations.map((observation) => observation.id));
      for (const observation of observations) {
        const resource = toFhirObservation(observation, episode, this.catalog, sent.get(observation.id));
        if (matchesCode(resource.code.coding!) && matchesDate(observation.observedAt)) resources.push(resource);
      }
    }
    return resources;
  }

  async searchRiskAssessments(params: SearchParams): Promise<Resource[]> {
    const cases = await this.context.cases.listForPatient(patientParam(params, 'subject', 'patient'), { observations: true, predictions: true });
    const byCase = new Map<string, Observation[]>();
    for (const episode of cases) byCase.set(episode.id, await this.context.cases.observations(episode));
    const resources: Resource[] = [];
    for (const episode of cases) {
      for (const record of await this.context.predictions.forCase(episode)) {
        const whole = await this.context.predictions.whole(record);
        resources.push(toRiskAssessment(await this.predictionView(whole, historyOf(whole) ? [...byCase.values()].flat() : byCase.get(episode.id)!)));
      }
    }
    return resources;
  }

  /** Every observation of the patient, across their cases. */
  private async patientObservations(patientId: string): Promise<Observation[]> {
    const cases = await this.context.cases.listForPatient(patientId, { observations: true, predictions: false });
    const observations: Observation[] = [];
    for (const episode of cases) observations.push(...(await this.context.cases.observations(episode)));
    return observations;
  }

  /** @param prediction a whole prediction (with its input) */
  private async predictionView(prediction: PredictionView['prediction'], observations: Observation[]): Promise<PredictionView> {
    const version = await this.context.models.version(prediction.modelVersionId);
    const model = await this.context.models.byId(version!.modelId);
    return { prediction, model: model!, version: version!, basis: basisOf(prediction, observations) };
  }
}

/** The visits a sequence model's input held (each with its values by feature), if it is one. */
function historyOf(prediction: PredictionView['prediction']): { values?: object }[] | undefined {
  const history = (prediction.input as { history?: unknown } | null)?.history;
  return Array.isArray(history) ? history : undefined;
}

/**
 * The observations a prediction's input came from: for each input feature,
 * the latest recorded before the prediction; for a sequence model (whose
 * input is the patient's visits so far), every one of them recorded before it.
 */
function basisOf(prediction: PredictionView['prediction'], observations: Observation[]): Observation[] {
  const values = (prediction.input as { values?: unknown }).values;
  if (!values || Array.isArray(values)) return [];
  const history = historyOf(prediction);
  const used = new Set([values, ...(history ?? []).map((visit) => visit.values ?? {})].flatMap((visitValues) => Object.keys(visitValues as object)));
  const features = (observation: Observation) => used.has(observation.code) && observation.createdAt <= prediction.createdAt;
  if (history) return observations.filter(features).sort((a, b) => a.observedAt.getTime() - b.observedAt.getTime());
  const latest = new Map<string, Observation>();
  for (const observation of observations) {
    if (!features(observation)) continue;
    const seen = latest.get(observation.code);
    if (!seen || seen.observedAt <= observation.observedAt) latest.set(observation.code, observation);
  }
  return [...latest.values()];
}

/** The patient id a search names (`patient=ID` or `patient=Patient/ID`). */
function patientParam(params: SearchParams, ...names: string[]): string {
  const name = names.find((n) => params[n]);
  const value = name ? singleParam(params, name) : undefined;
  if (!value) throw fhirError(400, 'required', `Give ${names[0]}=Patient/{id}.`, names[0]);
  return value.replace(/^Patient\//, '');
}

/** One code parameter: any of its comma-separated tokens ([system|]code); an empty token is refused. */
function codeFilter(param: string): (coding: Coding) => boolean {
  const wanted = param.split(',').map((token) => (token.includes('|') ? { system: token.slice(0, token.indexOf('|')), code: token.slice(token.indexOf('|') + 1) } : { system: undefined, code: token }));
  if (wanted.some((token) => !token.code)) throw fhirError(400, 'invalid', 'code must be a comma-separated list of [system|]code, each with a code.', 'code');
  return (coding) => wanted.some((w) => w.code === coding.code && (w.system === undefined || w.system === coding.system));
}

const datePrefixes = { eq: 0, ge: 1, le: 2, gt: 3, lt: 4 } as const;

/** date=[prefix]YYYY-MM-DD[Thh:mm:ssZ]; a bare day compares the whole day. */
function dateFilter(param: string): (time: Date) => boolean {
  const match = /^(eq|ge|le|gt|lt)?(\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2}))?)$/.exec(param);
  if (!match) throw fhirError(400, 'invalid', 'date must be [eq|ge|le|gt|lt]YYYY-MM-DD or a dateTime with zone.', 'date');
  const prefix = (match[1] ?? 'eq') as keyof typeof datePrefixes;
  const start = new Date(match[2]!.length === 10 ? `${match[2]}T00:00:00Z` : match[2]!).getTime();
  if (Number.isNaN(start)) throw fhirError(400, 'invalid', `date ${param} is not a real date.`, 'date');
  const end = match[2]!.length === 10 ? start + 86_400_000 : start + 1;
  return (time) => {
    const t = time.getTime();
    switch (prefix) {
      case 'eq':
        return t >= start && t < end;
      case 'ge':
        return t >= start;
      case 'gt':
        return t >= end;
      case 'le':
        return t < end;
      case 'lt':
        return t < start;
    }
  };
}

/** A searchset page: `_count` entries from `_offset`, with the total and paging links. */
export function searchset(resources: Resource[], url: URL, params: SearchParams, maxPageSize: number): Bundle {
  const count = Math.min(Math.max(Number.parseInt(singleParam(params, '_count') ?? '20', 10) || 20, 1), maxPageSize);
  const offset = Math.max(Number.parseInt(singleParam(params, '_offset') ?? '0', 10) || 0, 0);
  const page = resources.slice(offset, offset + count);
  const link = (relation: string, at: number) => {
    const next = new URL(url);
    next.searchParams.set('_count', String(count));
    next.searchParams.set('_offset', String(at));
    return { relation, url: next.toString() };
  };
  const base = url.origin + url.pathname.replace(/\/[A-Za-z]+$/, '');
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    link: [link('self', offset), ...(offset + count < resources.length ? [link('next', offset + count)] : []), ...(offset > 0 ? [link('previous', Math.max(offset - count, 0))] : [])],
    entry: page.map((resource) => ({ fullUrl: `${base}/${resource.resourceType}/${resource.id}`, resource, search: { mode: 'match' as const } })),
  };
}

