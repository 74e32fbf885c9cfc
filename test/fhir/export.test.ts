import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.ts';
import { FhirExportRepository } from '../../src/fhir/fhir-export.repository.ts';
import { startServer } from '../../src/server/start.ts';
import type { BundleEntry } from '@medplum/fhirtypes';
import { startTestServer, testServerEnv } from '../support/test-server.ts';
import { type Identity, people, signToken } from '../support/tokens.ts';
import { type EhrPatient, encounterEntry, hospitalMrnSystem, localLab, observationEntry, patientEntry, visitObservations, visitSystem } from './ehr-bundles.ts';
import { fhirClient, type FhirResponse, interfaceEngine } from './fhir-client.ts';

const settings = { FHIR_MRN_SYSTEM: hospitalMrnSystem, FHIR_EXPORT_PSEUDONYM_KEY: 'test-pseudonym-key-0123456789abcdef0123' };
const api = await startTestServer(settings);
const raw = { query: <T>(sql: string, params: unknown[] = []) => api.server.db.prisma.$queryRawUnsafe<T[]>(sql, ...params) };
const scientist = fhirClient(api, people.dataScientist);
const asyncHeaders = { prefer: 'respond-async' };

/** Six women of 45 to 49 in ZIP 021xx (a group of 6), five men over 89 there (a group of 5: 90+), and a woman alone in her group: k = 5 keeps eleven. */
const cohort: EhrPatient[] = [
  // Birth dates over 180 days apart (the largest date shift): a shifted date can never land on another's real one, which the scan below would take for a leak.
  ...['1977-03-10', '1977-10-11', '1978-05-12', '1978-12-13', '1979-07-14', '1980-02-15'].map((birthDate, i) => ({
    mrn: `EXP-${i}`,
    given: `Ingrid${i}`,
    family: `Sorensen${i}`,
    birthDate,
    gender: 'female' as const,
    postalCode: '02139',
  })),
  { mrn: 'EXP-OLD', given: 'Methuselah', family: 'Ancient', birthDate: '1931-02-03', gender: 'male', postalCode: '02139' },
  ...['1928-05-04', '1928-12-05', '1929-07-06', '1930-02-07'].map((birthDate, i) => ({
    mrn: `EXP-OLD${i}`,
    given: `Matthias${i}`,
    family: `Oldfield${i}`,
    birthDate,
    gender: 'male' as const,
    postalCode: '02141',
  })),
  { mrn: 'EXP-YOUNG', given: 'Zoe', family: 'Youngblood', birthDate: '2001-07-08', gender: 'female', postalCode: '94110' },
];

/** One-word free text a sender may put in valueString (a surname, an MRN, a telephone number without spaces): de-identified exports must drop it. */
const freeTextWords = (person: EhrPatient) => [person.family, `DEMO-${person.mrn}`, '+15550100777'];

const visitPeriod = { start: '2026-03-02T08:00:00.000Z', end: '2026-03-02T09:30:00.000Z' };

async function importCohort() {
  const entry: BundleEntry[] = [];
  cohort.forEach((person, i) => {
    const patient = patientEntry(person);
    const visit = encounterEntry(patient.fullUrl!, `EXP-V${i}`);
    // The first visit is over: its period.end is exported (shifted like its start when de-identified).
    if (i === 0) Object.assign(visit.resource!, { status: 'finished', period: visitPeriod });
    const notes = freeTextWords(person).map((word, n) =>
      observationEntry(patient.fullUrl!, visit.fullUrl!, `EXP-${i}-note${n}`, { code: { coding: [{ system: localLab, code: 'NOTE' }] }, valueString: word }),
    );
    entry.push(patient, visit, ...visitObservations(patient.fullUrl!, visit.fullUrl!, `EXP-${i}`), ...notes);
  });
  await importBundle(entry);
}

async function importBundle(entry: BundleEntry[]) {
  const response = await fhirClient(api, interfaceEngine)('', { body: { resourceType: 'Bundle', type: 'transaction', entry } });
  assert.equal(response.status, 200, JSON.stringify(response.body));
}

/** Kicks an export off and polls it to its manifest. */
async function exportAll(client: ReturnType<typeof fhirClient>, path = '/$export', headers: Record<string, string> = {}) {
  const kickOff = await client(path, { headers: { ...asyncHeaders, ...headers } });
  assert.equal(kickOff.status, 202, JSON.stringify(kickOff.body));
  const status = kickOff.headers.get('content-location')!;
  const statusPath = status.slice(status.indexOf('/$export-status'));
  let poll: FhirResponse;
  for (let i = 0; ; i++) {
    poll = await client(statusPath);
    if (poll.status !== 202) break;
    assert.ok(poll.headers.get('x-progress'));
    assert.ok(i < 200, 'the export did not finish');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(poll.status, 200, JSON.stringify(poll.body));
  return { manifest: poll.body, statusPath };
}

/** An NDJSON file of a manifest, fetched with the identity's token (files require one). */
async function download(identity: Identity, url: string, headers: Record<string, string> = {}): Promise<string[]> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${await signToken(identity)}`, ...headers } });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type')!, /application\/fhir\+ndjson/);
  return (await response.text()).split('\n').filter(Boolean);
}

/** A completed export of the data scientist's with one file of 30 Patient lines in three parts, stored out of order (a download follows the sequence numbers). */
async function completedExportOfThreeParts() {
  const job = await api.server.db.prisma.fhirExportJob.create({
    data: { level: 'system', types: ['Patient'], profile: 'deidentified', requestUrl: 'parts', requestedBy: people.dataScientist.sub, requestedRoles: ['data_scientist'], purposeOfUse: 'TREAT', status: 'COMPLETED', report: { profile: 'deidentified' }, finishedAt: new Date() },
  });
  const lines = Array.from({ length: 30 }, (_, i) => `{"resourceType":"Patient","id":"p${i}"}\n`);
  await api.server.db.prisma.fhirExportFile.create({ data: { jobId: job.id, type: 'Patient', count: lines.length } });
  for (const seq of [2, 0, 1]) await api.server.db.prisma.fhirExportPart.create({ data: { jobId: job.id, type: 'Patient', seq, ndjson: lines.slice(seq * 10, seq * 10 + 10).join('') } });
  return { job, lines };
}

await importCohort();

/** Every line of every file of a de-identified export, scanned for the cohort's identifiers (and, under Safe Harbor, for any date finer than a year). */
async function scannedLines(manifest: any, safeHarbor: boolean): Promise<number> {
  const secrets = cohort.flatMap((person) => [person.given, person.family, person.mrn, `PI${person.mrn}`, person.birthDate, person.postalCode, ...freeTextWords(person)]).concat(['Harbour Road', 'Springfield', '+1 555 0100', 'Diabetes follow-up']);
  let lines = 0;
  for (const output of manifest.output) {
    const file = await download(people.dataScientist, output.url);
    assert.equal(file.length, output.count);
    for (const line of file) {
      lines++;
      JSON.parse(line);
      for (const secret of secrets) assert.ok(!line.includes(secret), `${output.type} line holds ${secret}`);
      if (safeHarbor) assert.doesNotMatch(line, /\d{4}-\d{2}/, `${output.type} line holds a date finer than its year`);
    }
  }
  return lines;
}

describe('FHIR bulk export', () => {
  it('gives a data scientist a Safe Harbor export by default: no names, MRNs, dates finer than the year, addresses or free text; 90+ grouped; k-anonymous, audited', async () => {
    const { manifest } = await exportAll(scientist);
    assert.equal(manifest.requiresAccessToken, true);
    assert.deepEqual(manifest.output.map((o: any) => o.type).sort(), ['Encounter', 'Observation', 'Patient']);
    const report = manifest.extension['urn:clinigraph:export-report'];
    assert.equal(report.profile, 'safe-harbor');
    assert.deepEqual(report.kAnonymity, { k: 5, groups: 3, smallestKeptGroup: 5, patientsKept: 11, patientsSuppressed: 1 });
    assert.equal(manifest.output.find((o: any) => o.type === 'Patient').count, 11);

    const lines = await scannedLines(manifest, true);
    assert.ok(lines >= 11 + 11 + 11 * 6);
    assert.equal((await fetch(manifest.output[0].url)).status, 401);
    const patients = (await download(people.dataScientist, manifest.output.find((o: any) => o.type === 'Patient').url)).map((line) => JSON.parse(line));
    assert.ok(patients.every((p) => p.identifier[0].system === 'urn:clinigraph:pseudonym'));
    // The women's birth years, no day; the men over 89 as one 90+ group, with no birth date at all.
    const bands = (band: string) => patients.filter((p) => p.extension[0].valueString === band);
    assert.deepEqual(bands('45-49').map((p) => p.birthDate).sort(), ['1977', '1977', '1978', '1978', '1979', '1980']);
    assert.equal(bands('90+').length, 5);
    assert.ok(bands('90+').every((p) => p.birthDate === undefined && p.gender === 'male'));

    // Pseudonyms and date shifts are stable across exports: cohorts can be followed.
    const again = await exportAll(scientist);
    const patientsAgain = (await download(people.dataScientist, again.manifest.output.find((o: any) => o.type === 'Patient').url)).map((line) => JSON.parse(line));
    assert.deepEqual(patientsAgain, patients);

    // Each observation carries the standard codings it was sent with (LOINC), not only the model feature's; never the hospital's
    // local codes (a sender's own code may be anything it typed), and a code sent with local codings only is masked.
    const observations = (await download(people.dataScientist, manifest.output.find((o: any) => o.type === 'Observation').url)).map((line) => JSON.parse(line));
    assert.ok(observations.every((o) => o.code.coding.every((c: any) => c.system !== localLab)), 'no local coding');
    const sentPairs = [['39156-5', 'BMI'], ['2093-3', 'CHOL'], ['2345-7', 'GLU'], ['8480-6', 'SBP'], ['8462-4', 'DBP'], ['72166-2', 'SMOKE']];
    const sentAs = (o: any) => sentPairs.filter(([loinc]) => o.code.coding.some((c: any) => `${c.system}|${c.code}` === `http://loinc.org|${loinc}`));
    const isNote = (o: any) => o.code.coding.length === 1 && o.code.coding[0].code === 'masked' && o.code.text === undefined;
    const sentAsFeatures = observations.filter((o) => !isNote(o));
    assert.ok(sentAsFeatures.every((o) => sentAs(o).length === 1), JSON.stringify(sentAsFeatures.find((o) => sentAs(o).length !== 1)?.code));
    assert.deepEqual(new Set(sentAsFeatures.map((o) => sentAs(o)[0]![1])), new Set(sentPairs.map(([, local]) => local)));
    // A coded value keeps its code, as the coding it was sent as; the free-text notes are masked.
    const smoking = observations.filter((o) => sentAs(o)[0]?.[1] === 'SMOKE');
    assert.ok(smoking.length === 11 && smoking.every((o) => o.valueCodeableConcept), JSON.stringify(smoking[0]));
    assert.ok(smoking.every((o) => o.valueCodeableConcept.coding[0].system === 'http://snomed.info/sct' && o.valueCodeableConcept.coding[0].code === '8517006'));
    const notes = observations.filter(isNote);
    assert.equal(notes.length, 11 * 3);
    assert.ok(notes.every((o) => o.valueString === undefined && o.dataAbsentReason.coding[0].code === 'masked'));

    // The finished visit: its year, start and end.
    const encounters = (await download(people.dataScientist, manifest.output.find((o: any) => o.type === 'Encounter').url)).map((line) => JSON.parse(line));
    assert.deepEqual(encounters.filter((e) => e.period.end).map((e) => e.period), [{ start: '2026', end: '2026' }]);

    const [requested] = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'fhir.export.request' AND "actorSubject" = $1 AND reason LIKE 'profile=safe-harbor %'`, [people.dataScientist.sub]);
    assert.equal(requested!.n, 2);
    const [exported] = await raw.query<{ reason: string; patients: number }>(`SELECT reason, cardinality("patientIds") AS patients FROM "AuditEvent" WHERE action = 'fhir.export' AND "actorSubject" = $1 LIMIT 1`, [people.dataScientist.sub]);
    assert.equal(exported!.patients, 11);
    assert.match(exported!.reason, /^profile=safe-harbor .*counts=.*Patient:11/);
  });

  it('shifts every date of a patient by one keyed offset when asked for shifted-dates (not Safe Harbor), stable across exports, and records the profile', async () => {
    const { manifest } = await exportAll(scientist, '/$export?_deidentify=shifted-dates');
    assert.equal(manifest.extension['urn:clinigraph:export-report'].profile, 'shifted-dates');
    assert.ok((await scannedLines(manifest, false)) >= 11 + 11 + 11 * 6);
    const file = async (m: any, type: string) => (await download(people.dataScientist, m.output.find((o: any) => o.type === type).url)).map((line) => JSON.parse(line));
    const patients = await file(manifest, 'Patient');
    assert.ok(patients.filter((p) => p.extension[0].valueString === '45-49').every((p) => /^\d{4}-\d{2}-\d{2}$/.test(p.birthDate)));
    assert.ok(patients.filter((p) => p.extension[0].valueString === '90+').every((p) => p.birthDate === undefined));
    // The finished visit ends as long after its start as it did, both shifted by the patient's offset.
    const finished = (await file(manifest, 'Encounter')).filter((e) => e.period.end);
    assert.equal(finished.length, 1);
    assert.equal(Date.parse(finished[0].period.end) - Date.parse(finished[0].period.start), Date.parse(visitPeriod.end) - Date.parse(visitPeriod.start));
    assert.notEqual(finished[0].period.end, visitPeriod.end);
    // Pseudonyms and date shifts are stable across exports: cohorts can be followed.
    assert.deepEqual(await file((await exportAll(scientist, '/$export?_deidentify=shifted-dates')).manifest, 'Patient'), patients);
    const [requested] = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'fhir.export.request' AND "actorSubject" = $1 AND reason LIKE 'profile=shifted-dates %'`, [people.dataScientist.sub]);
    assert.equal(requested!.n, 2);
  });

  it('gives identified data only to an admin asking for operations, and refuses other roles', async () => {
    const admin = fhirClient(api, people.admin);
    const { manifest } = await exportAll(admin, '/Patient/$export?_type=Patient', { 'x-purpose-of-use': 'HOPERAT' });
    assert.equal(manifest.extension['urn:clinigraph:export-report'].profile, 'identified');
    assert.deepEqual(manifest.output.map((o: any) => o.type), ['Patient']);
    const lines = await download(people.admin, manifest.output[0].url, { 'x-purpose-of-use': 'HOPERAT' });
    assert.equal(lines.length, 12);
    assert.ok(lines.some((line) => line.includes('EXP-OLD')));
    const visits = await exportAll(admin, '/$export?_type=Encounter', { 'x-purpose-of-use': 'HOPERAT' });
    const encounters = (await download(people.admin, visits.manifest.output[0].url, { 'x-purpose-of-use': 'HOPERAT' })).map((line) => JSON.parse(line));
    assert.deepEqual(encounters.filter((e) => e.period.end).map((e) => [e.status, e.period]), [['finished', visitPeriod]]);

    for (const who of [people.clinician, people.auditor, interfaceEngine]) {
      const refused = await fhirClient(api, who)('/$export', { headers: asyncHeaders });
      assert.equal(refused.status, 403, who.sub);
      assert.equal(refused.body.resourceType, 'OperationOutcome');
    }
    // Another subject's job reads as absent, and its files too.
    const kickOff = await scientist('/$export', { headers: asyncHeaders });
    const statusPath = kickOff.headers.get('content-location')!.replace(/^.*\/fhir\/R4/, '');
    assert.equal((await admin(statusPath)).status, 404);
  });

  it('answers bad kick-offs with an OperationOutcome naming the parameter, and DELETE cancels', async () => {
    const noPrefer = await scientist('/$export');
    assert.equal(noPrefer.status, 400);
    assert.deepEqual(noPrefer.body.issue[0].expression, ['Prefer']);
    const badType = await scientist('/$export?_type=Medication', { headers: asyncHeaders });
    assert.deepEqual(badType.body.issue[0].expression, ['_type']);
    const repeatedType = await scientist('/$export?_type=Patient&_type=Observation', { headers: asyncHeaders });
    assert.equal(repeatedType.status, 400);
    assert.deepEqual(repeatedType.body.issue[0].expression, ['_type']);
    const badProfile = await scientist('/$export?_deidentify=expert', { headers: asyncHeaders });
    assert.equal(badProfile.status, 400);
    assert.deepEqual(badProfile.body.issue[0].expression, ['_deidentify']);
    assert.match(badProfile.body.issue[0].diagnostics, /expert.*safe-harbor, shifted-dates/);
    const badSince = await scientist('/$export?_since=yesterday', { headers: asyncHeaders });
    assert.deepEqual(badSince.body.issue[0].expression, ['_since']);
    // A de-identified export chosen by real change times would reveal the real dates its date shift hides.
    const deidentifiedSince = await scientist(`/$export?_since=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`, { headers: asyncHeaders });
    assert.equal(deidentifiedSince.status, 400);
    assert.deepEqual([deidentifiedSince.body.issue[0].code, deidentifiedSince.body.issue[0].expression], ['not-supported', ['_since']]);

    const kickOff = await scientist('/$export', { headers: asyncHeaders });
    const statusPath = kickOff.headers.get('content-location')!.replace(/^.*\/fhir\/R4/, '');
    assert.equal((await scientist(statusPath, { method: 'DELETE' })).status, 202);
    assert.equal((await scientist(statusPath)).status, 404);
    // Jobs run one at a time: once the next has finished, the cancelled one has stopped, and left no part of its files.
    await exportAll(scientist, '/$export?_type=Patient');
    const [parts] = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM "FhirExportPart" WHERE "jobId" = $1::uuid`, [statusPath.split('/').at(-1)]);
    assert.equal(parts!.n, 0);
    const anonymous = await fhirClient(api)(statusPath);
    assert.equal(anonymous.status, 401);
  });

  it('exports with a past _since what changed after it: a new patient with its visit, and a new result of a patient unchanged since; nothing older', async () => {
    const since = new Date();
    await new Promise((resolve) => setTimeout(resolve, 5));
    // A man of 65 alone in his group: a de-identified export would suppress him, so the identified one is read.
    const late: EhrPatient = { mrn: 'EXP-LATE', given: 'Lazarus', family: 'Latecomer', birthDate: '1961-06-01', gender: 'male', postalCode: '10001' };
    const patient = patientEntry(late);
    const visit = encounterEntry(patient.fullUrl!, 'EXP-VLATE');
    const [earlierVisit] = await raw.query<{ targetId: string }>(`SELECT "targetId" FROM "FhirIdentifier" WHERE "resourceType" = 'Encounter' AND system = $1 AND value = 'EXP-V1'`, [visitSystem]);
    const creatinine = observationEntry(`Patient?identifier=${hospitalMrnSystem}|EXP-1`, `Encounter/${earlierVisit!.targetId}`, 'EXP-1-crea', {
      code: { coding: [{ system: 'http://loinc.org', code: '2160-0' }] },
      valueQuantity: { value: 0.9, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
    });
    await importBundle([patient, visit, ...visitObservations(patient.fullUrl!, visit.fullUrl!, 'EXP-LATE'), creatinine]);

    const admin = fhirClient(api, people.admin);
    const operations = { 'x-purpose-of-use': 'HOPERAT' };
    const { manifest } = await exportAll(admin, `/$export?_since=${encodeURIComponent(since.toISOString())}`, operations);
    const file = async (type: string) => (await download(people.admin, manifest.output.find((o: any) => o.type === type).url, operations)).map((line) => JSON.parse(line));
    const [patients, encounters, observations] = [await file('Patient'), await file('Encounter'), await file('Observation')];
    assert.deepEqual(patients.map((p) => p.identifier[0].value), ['EXP-LATE']);
    const lateId = patients[0].id as string;
    assert.deepEqual(encounters.map((e) => e.subject.reference), [`Patient/${lateId}`]);
    const [stored] = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Observation" o JOIN "Case" c ON c.id = o."caseId" WHERE c."patientId" = $1`, [lateId]);
    assert.ok(stored!.n > 0);
    assert.equal(observations.filter((o) => o.subject.reference === `Patient/${lateId}`).length, stored!.n);
    const older = observations.filter((o) => o.subject.reference !== `Patient/${lateId}`);
    assert.deepEqual(older.map((o) => [o.code.coding.some((c: any) => c.code === '2160-0'), o.valueQuantity.value]), [[true, 0.9]]);
  });

  it('streams a file of many parts whole and in order, and only to the requester', async () => {
    const { job, lines } = await completedExportOfThreeParts();
    const status = await scientist(`/$export-status/${job.id}`);
    assert.equal(status.status, 200);
    const manifest = status.body;
    assert.deepEqual(manifest.output.map((o: any) => o.count), [30]);
    assert.deepEqual(await download(people.dataScientist, manifest.output[0].url), lines.map((line) => line.trimEnd()));
    const other = await fetch(manifest.output[0].url, { headers: { authorization: `Bearer ${await signToken(people.admin)}` } });
    assert.equal(other.status, 404);
    // The requester's token confined to one patient (a SMART patient/ scope) reaches none of an export of everyone.
    const confined = { scope: 'patient/*.rs', patient: '00000000-0000-4000-8000-000000000000' };
    assert.equal((await fhirClient(api, people.dataScientist, confined)(`/$export-status/${job.id}`)).status, 403);
    const file = await fetch(manifest.output[0].url, { headers: { authorization: `Bearer ${await signToken(people.dataScientist, { claims: confined })}` } });
    assert.equal(file.status, 403);
    assert.equal((await fhirClient(api, people.dataScientist, confined)(`/$export-status/${job.id}`, { method: 'DELETE' })).status, 403);
    assert.equal((await scientist(`/$export-status/${job.id}`)).status, 200, 'not cancelled by the refused DELETE');
  });

  it('fails a download whose export is cancelled while it streams (the client sees an error, never a shorter file ending like a whole one), and answers 410 when nothing was sent yet', async () => {
    const headers = { authorization: `Bearer ${await signToken(people.dataScientist)}` };
    for (const cancelledBeforePart of [1, 0]) {
      const { job } = await completedExportOfThreeParts();
      const url = (await scientist(`/$export-status/${job.id}`)).body.output[0].url;
      const readPart = FhirExportRepository.prototype.part;
      // The requester cancels between two of the parts the download reads (a cancellation deletes them all).
      FhirExportRepository.prototype.part = async function (this: FhirExportRepository, jobId: string, type: string, seq: number) {
        if (jobId === job.id && seq === cancelledBeforePart) assert.equal((await scientist(`/$export-status/${job.id}`, { method: 'DELETE' })).status, 202);
        return readPart.call(this, jobId, type, seq);
      };
      try {
        const response = await fetch(url, { headers });
        if (cancelledBeforePart === 0) {
          assert.equal(response.status, 410);
          assert.equal(((await response.json()) as any).resourceType, 'OperationOutcome');
        } else {
          assert.equal(response.status, 200, 'the first part was on its way');
          await assert.rejects(response.text(), 'the response is cut off, not ended');
        }
      } finally {
        FhirExportRepository.prototype.part = readPart;
      }
    }
  });

  it('says when its files expire (Expires, FHIR_EXPORT_RETENTION_HOURS after completion), answers 410 after, and the background expiry (at start, then every minute) deletes the files', async () => {
    const { manifest, statusPath } = await exportAll(scientist, '/$export?_type=Patient');
    const jobId = statusPath.split('/').at(-1)!;
    const { finishedAt } = await api.server.db.prisma.fhirExportJob.findUniqueOrThrow({ where: { id: jobId } });
    const expires = new Date(finishedAt!.getTime() + 24 * 3_600_000).toUTCString();
    assert.equal((await scientist(statusPath)).headers.get('expires'), expires);
    const file = await fetch(manifest.output[0].url, { headers: { authorization: `Bearer ${await signToken(people.dataScientist)}` } });
    assert.equal(file.headers.get('expires'), expires);
    await file.text();

    // A day and an hour later: expired, whether or not the files are deleted yet.
    await api.server.db.prisma.fhirExportJob.update({ where: { id: jobId }, data: { finishedAt: new Date(Date.now() - 25 * 3_600_000) } });
    const gone = await scientist(statusPath);
    assert.equal(gone.status, 410);
    assert.equal(gone.body.resourceType, 'OperationOutcome');
    assert.equal((await fetch(manifest.output[0].url, { headers: { authorization: `Bearer ${await signToken(people.dataScientist)}` } })).status, 410);

    assert.ok((await api.server.app.fhirExports.expireOld()) >= 1);
    const [left] = await raw.query<{ parts: number; files: number; status: string }>(
      `SELECT (SELECT count(*)::int FROM "FhirExportPart" WHERE "jobId" = $1::uuid) AS parts, (SELECT count(*)::int FROM "FhirExportFile" WHERE "jobId" = $1::uuid) AS files, status::text FROM "FhirExportJob" WHERE id = $1::uuid`,
      [jobId],
    );
    assert.deepEqual(left, { parts: 0, files: 0, status: 'EXPIRED' });
    assert.equal((await scientist(statusPath)).status, 410);
    // Recent exports are kept.
    const [recent] = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM "FhirExportJob" WHERE status = 'COMPLETED'`);
    assert.ok(recent!.n > 0);
  });

  it('still finishes an export while an interactive request stays in flight throughout (the pacing waits for a gap a period at most)', async () => {
    // A GraphQL request whose body never finishes arriving: in flight until the connection is dropped.
    const url = new URL(api.url);
    const held = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '1000' } });
    held.on('error', () => {});
    held.write('{"query":');
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const { manifest } = await exportAll(scientist, '/$export?_type=Patient');
      assert.deepEqual(manifest.output.map((output: any) => output.type), ['Patient']);
    } finally {
      held.destroy();
    }
  });

  it('keeps only codings of published terminologies in a de-identified export: a coded value sent with a local coding and free text keeps its SNOMED CT coding alone, a code its LOINC', async () => {
    // Patient 1 of the cohort, on its (open) visit.
    const patient = patientEntry(cohort[1]!);
    const visit = encounterEntry(patient.fullUrl!, 'EXP-V1');
    const familyHistory = observationEntry(patient.fullUrl!, visit.fullUrl!, 'EXP-1-famhx', {
      code: { coding: [{ system: localLab, code: 'FAMHX-SMITH', display: 'Smith family history' }, { system: 'http://loinc.org', code: '10157-6', display: 'History of family member diseases' }], text: 'Family history of John Smith' },
      valueCodeableConcept: { text: 'Smith family history', coding: [{ system: 'urn:local', code: 'JOHN-SMITH', display: 'John Smith' }, { system: 'http://snomed.info/sct', code: '160303001', display: 'FH: Diabetes mellitus' }] },
    });
    await importBundle([patient, visit, familyHistory]);
    const { manifest } = await exportAll(scientist, '/$export?_type=Observation');
    const lines = await download(people.dataScientist, manifest.output[0].url);
    const [line] = lines.filter((candidate) => candidate.includes('160303001'));
    assert.ok(line, 'the SNOMED CT coding of the value is exported');
    const observation = JSON.parse(line);
    assert.deepEqual(observation.valueCodeableConcept, { coding: [{ system: 'http://snomed.info/sct', code: '160303001' }] });
    assert.deepEqual(observation.code, { coding: [{ system: 'http://loinc.org', code: '10157-6' }] });
    for (const sent of ['Smith', 'SMITH', 'John', 'urn:local', 'FAMHX', localLab]) assert.ok(!line.includes(sent), `the export holds ${sent}`);
  });

  // Last: it stops the suite's server.
  it('runs a job a stopped server left unfinished when the next one starts', async () => {
    const job = await api.server.db.prisma.fhirExportJob.create({
      data: { level: 'system', types: ['Patient'], profile: 'deidentified', requestUrl: 'interrupted', requestedBy: people.dataScientist.sub, requestedRoles: ['data_scientist'], purposeOfUse: 'TREAT', status: 'RUNNING' },
    });
    await api.server.stop();
    const restarted = await startServer(loadConfig({ ...(await testServerEnv(api.database)), ...settings }), pino({ level: 'silent' }));
    after(() => restarted.stop());
    const status = `${restarted.url.replace(/\/graphql$/, '/fhir/R4')}/$export-status/${job.id}`;
    const headers = { authorization: `Bearer ${await signToken(people.dataScientist)}` };
    let response = await fetch(status, { headers });
    for (let i = 0; response.status === 202 && i < 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      response = await fetch(status, { headers });
    }
    assert.equal(response.status, 200);
    const manifest = (await response.json()) as any;
    assert.equal(manifest.output[0].count, 11);
  });
});
