import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { buildSchema, isNonNullType } from 'graphql';
import { contractPath } from '../../src/server/schema.ts';
import { auditEvents } from '../support/audit.ts';
import { caseWithObservations, createPatient, modelObservations, openCase } from '../support/fixtures.ts';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { type Identity, people } from '../support/tokens.ts';

/*
 * For each role, every query and mutation of the contract: allowed or
 * FORBIDDEN as README's role table says. The table below is written out by
 * hand (not read from the policy module), so it checks the policy rather than
 * repeating it; a test further down fails when an operation is missing here.
 */
const api = await startTestServer({ DEFAULT_MODELS: 'true' });
const { prisma } = api.server.db;
type RoleName = 'admin' | 'clinician' | 'auditor' | 'dataScientist';
const roleNames: RoleName[] = ['admin', 'clinician', 'auditor', 'dataScientist'];

interface Operation {
  document: string;
  /** Fresh variables for each attempt (state-changing operations get their own records). */
  variables: () => Promise<Record<string, unknown>>;
  allowed: RoleName[];
}

const patient = (careTeam: Identity[] = [people.clinician]) => createPatient(api, {}, careTeam);
const openCaseFor = async () => openCase(api, await patient());
const predictableCase = async () => caseWithObservations(api, await modelObservations('breast-cancer', 1));
const prediction = async () => {
  const response = await api.as(people.clinician).gql('mutation($id: ID!) { predict(caseId: $id, model: "breast-cancer", explain: false) { id } }', { id: await predictableCase() });
  return response.body.data!.predict.id as string;
};
/** A candidate version (a copy of the shipped breast-cancer model) to promote. */
const candidateVersion = async () => {
  const { id: _id, version: _version, stage: _stage, ...copy } = await prisma.modelVersion.findFirstOrThrow({ where: { model: { name: 'breast-cancer' } }, orderBy: { version: 'desc' } });
  const latest = await prisma.modelVersion.count({ where: { modelId: copy.modelId } });
  return (await prisma.modelVersion.create({ data: { ...copy, result: copy.result as object, cardText: copy.cardText as object, version: latest + 1 } })).id;
};
// A measurement that repeats and is out of order (not an identifier) and only loosely tied to y (not a leak): the data checks let it train.
const smallCsv = `x,y\n${Array.from({ length: 40 }, (_, i) => `${((i * 37) % 17) + (i % 3) / 2},${i % 2 ? 'a' : 'b'}`).join('\n')}\n`;

const operations: Record<string, Operation> = {
  me: { document: '{ me { subject } }', variables: async () => ({}), allowed: roleNames },
  patients: { document: '{ patients(first: 5) { totalCount } }', variables: async () => ({}), allowed: ['admin', 'clinician'] },
  patient: { document: 'query($id: ID!) { patient(id: $id) { id } }', variables: async () => ({ id: await patient() }), allowed: ['admin', 'clinician'] },
  patientByMrn: {
    document: 'query($mrn: String!) { patientByMrn(mrn: $mrn) { id } }',
    variables: async () => {
      const id = await patient();
      const read = await api.as(people.admin).gql('query($id: ID!) { patient(id: $id) { mrn } }', { id });
      return { mrn: read.body.data!.patient.mrn };
    },
    allowed: ['admin', 'clinician'],
  },
  patientIdByMrnForAudit: { document: '{ patientIdByMrnForAudit(mrn: "NO-SUCH-MRN") }', variables: async () => ({}), allowed: ['auditor'] },
  case: { document: 'query($id: ID!) { case(id: $id) { id } }', variables: async () => ({ id: await openCaseFor() }), allowed: ['clinician'] },
  breakGlassGrants: { document: '{ breakGlassGrants(first: 5) { totalCount } }', variables: async () => ({}), allowed: ['auditor'] },
  auditEvents: { document: '{ auditEvents(first: 5) { totalCount } }', variables: async () => ({}), allowed: ['auditor'] },
  verifyAuditChain: { document: '{ verifyAuditChain { intact } }', variables: async () => ({}), allowed: ['auditor'] },
  exportAuditEvents: { document: '{ exportAuditEvents(first: 5) { count } }', variables: async () => ({}), allowed: ['auditor'] },
  auditCheckpoint: { document: '{ auditCheckpoint }', variables: async () => ({}), allowed: ['auditor'] },
  auditInclusionProof: {
    document: 'query($id: ID!) { auditInclusionProof(eventId: $id) { leafIndex } }',
    variables: async () => {
      await api.server.app.auditLedger.settle();
      return { id: (await api.server.db.prisma.auditEvent.findFirstOrThrow({ orderBy: { sequence: 'asc' } })).id };
    },
    allowed: ['auditor'],
  },
  auditConsistencyProof: {
    document: 'query($size: String!) { auditConsistencyProof(fromSize: $size) { toSize } }',
    variables: async () => {
      await api.server.app.auditLedger.settle();
      return { size: (await api.server.db.prisma.auditCheckpoint.findFirstOrThrow({ orderBy: { treeSize: 'asc' } })).treeSize.toString() };
    },
    allowed: ['auditor'],
  },
  createPatient: {
    document: 'mutation($input: CreatePatientInput!) { createPatient(input: $input) { id } }',
    variables: async () => ({ input: { mrn: `R-${Math.random().toString(36).slice(2)}`, givenName: 'R', familyName: 'Ole', birthDate: '1990-01-01', sex: 'OTHER' } }),
    allowed: ['admin'],
  },
  updatePatient: {
    document: 'mutation($id: ID!) { updatePatient(id: $id, input: { givenName: "Renamed" }) { id } }',
    variables: async () => ({ id: await patient() }),
    allowed: ['admin'],
  },
  archivePatient: { document: 'mutation($id: ID!) { archivePatient(id: $id) { id } }', variables: async () => ({ id: await patient() }), allowed: ['admin'] },
  mergePatients: {
    document: 'mutation($a: ID!, $b: ID!) { mergePatients(duplicateId: $a, survivorId: $b) { id } }',
    variables: async () => ({ a: await patient(), b: await patient() }),
    allowed: ['admin'],
  },
  addCareTeamMember: {
    document: 'mutation($id: ID!) { addCareTeamMember(patientId: $id, clinicianSubject: "dr-new") { clinicianSubject } }',
    variables: async () => ({ id: await patient() }),
    allowed: ['admin'],
  },
  removeCareTeamMember: {
    document: 'mutation($id: ID!) { removeCareTeamMember(patientId: $id, clinicianSubject: "dr-carter") { clinicianSubject } }',
    variables: async () => ({ id: await patient() }),
    allowed: ['admin'],
  },
  recordAiConsent: {
    document: 'mutation($id: ID!) { recordAiConsent(patientId: $id, status: WITHDRAWN) { aiConsent } }',
    variables: async () => ({ id: await patient() }),
    allowed: ['admin', 'clinician'],
  },
  openBreakGlass: {
    document: 'mutation($id: ID!) { openBreakGlass(patientId: $id, reason: "Unconscious patient in the emergency room") { id } }',
    variables: async () => ({ id: await patient([]) }),
    allowed: ['clinician'],
  },
  openCase: {
    document: 'mutation($id: ID!) { openCase(input: { patientId: $id, title: "Role check" }) { id } }',
    variables: async () => ({ id: await patient() }),
    allowed: ['clinician'],
  },
  closeCase: { document: 'mutation($id: ID!) { closeCase(id: $id) { id } }', variables: async () => ({ id: await openCaseFor() }), allowed: ['clinician'] },
  addObservations: {
    document: 'mutation($id: ID!) { addObservations(caseId: $id, observations: [{ code: "heart_rate", value: 60 }]) { id } }',
    variables: async () => ({ id: await openCaseFor() }),
    allowed: ['clinician'],
  },
  models: { document: '{ models { name } }', variables: async () => ({}), allowed: roleNames },
  model: { document: '{ model(name: "digits") { name } }', variables: async () => ({}), allowed: roleNames },
  modelVersion: {
    document: 'query($id: ID!) { modelVersion(id: $id) { version } }',
    variables: async () => ({ id: (await prisma.modelVersion.findFirstOrThrow()).id }),
    allowed: roleNames,
  },
  modelRuntime: { document: '{ modelRuntime { backend } }', variables: async () => ({}), allowed: roleNames },
  trainingJob: {
    document: 'query($id: ID!) { trainingJob(id: $id) { status } }',
    variables: async () => ({ id: (await prisma.trainingJob.create({ data: { modelName: 'x', options: {}, requestedBy: 'test' } })).id }),
    allowed: ['admin', 'dataScientist'],
  },
  trainingJobs: { document: '{ trainingJobs(first: 5) { totalCount } }', variables: async () => ({}), allowed: ['admin', 'dataScientist'] },
  trainModel: {
    document: 'mutation($csv: String!) { trainModel(input: { name: "role-check", task: BINARY, target: "y", data: { csv: $csv }, maxEpochs: 2 }) { id } }',
    variables: async () => ({ csv: smallCsv }),
    allowed: ['admin', 'dataScientist'],
  },
  promoteModelVersion: {
    document: 'mutation($id: ID!) { promoteModelVersion(id: $id, comment: "role check") { id } }',
    variables: async () => ({ id: await candidateVersion() }),
    allowed: ['admin', 'dataScientist'],
  },
  modelPerformance: { document: '{ modelPerformance(model: "digits") { predictions } }', variables: async () => ({}), allowed: ['admin', 'dataScientist'] },
  prediction: { document: 'query($id: ID!) { prediction(id: $id) { label } }', variables: async () => ({ id: await prediction() }), allowed: ['clinician'] },
  predict: {
    document: 'mutation($id: ID!) { predict(caseId: $id, model: "breast-cancer", explain: false) { id } }',
    variables: async () => ({ id: await predictableCase() }),
    allowed: ['clinician'],
  },
  predictCohort: {
    document: 'mutation($id: ID!) { predictCohort(caseIds: [$id], model: "breast-cancer") { prediction { id } error { code } } }',
    variables: async () => ({ id: await predictableCase() }),
    allowed: ['clinician'],
  },
  explainPrediction: { document: 'mutation($id: ID!) { explainPrediction(id: $id) { id } }', variables: async () => ({ id: await prediction() }), allowed: ['clinician'] },
  reviewPrediction: {
    document: 'mutation($id: ID!) { reviewPrediction(id: $id, decision: AGREE) { id } }',
    variables: async () => ({ id: await prediction() }),
    allowed: ['clinician'],
  },
  recordOutcome: {
    document: 'mutation($id: ID!) { recordOutcome(caseId: $id, outcome: { target: "diagnosis", label: "benign" }) { target } }',
    variables: async () => ({ id: await openCaseFor() }),
    allowed: ['clinician'],
  },
  addCaseImage: {
    document: 'mutation($id: ID!) { addCaseImage(caseId: $id, image: { code: "scan", width: 1, height: 1, pixels: [0] }) { id } }',
    variables: async () => ({ id: await openCaseFor() }),
    allowed: ['clinician'],
  },
};

describe('role matrix', () => {
  it('covers every query and mutation of the contract', async () => {
    const schema = buildSchema(await readFile(contractPath, 'utf8'));
    const rootFields = [schema.getQueryType(), schema.getMutationType()].flatMap((type) => Object.keys(type!.getFields()));
    assert.deepEqual(rootFields.filter((name) => !(name in operations)), []);
  });

  it('makes every root field a role may be refused nullable (all but me), so a refusal never nulls the whole answer', async () => {
    const schema = buildSchema(await readFile(contractPath, 'utf8'));
    const nonNull = [schema.getQueryType(), schema.getMutationType()].flatMap((type) => Object.values(type!.getFields())).filter((field) => isNonNullType(field.type));
    assert.deepEqual(nonNull.map((field) => field.name), ['me']);
  });

  for (const [name, operation] of Object.entries(operations)) {
    it(`${name}: allowed for ${operation.allowed.join(', ')}; FORBIDDEN and audited for the others`, async () => {
      for (const role of roleNames) {
        const identity = people[role];
        const variables = await operation.variables();
        const latestDenial = async () => Number((await auditEvents(api, { actorSubject: identity.sub, outcome: 'DENIED' }, 1))[0]?.sequence ?? 0);
        const deniedBefore = await latestDenial();
        const response = await api.as(identity).gql(operation.document, variables);
        if (operation.allowed.includes(role)) {
          assert.equal(response.body.errors, undefined, `${role}: ${JSON.stringify(response.body.errors)}`);
        } else {
          assert.deepEqual(errorCodes(response), ['FORBIDDEN'], `${role} should be refused`);
          assert.deepEqual(response.body.data, { [name]: null }, `${role}: the refusal is null at its path, not data: null`);
          assert.ok((await latestDenial()) > deniedBefore, `${role}'s denial of ${name} is audited`);
        }
      }
    });
  }

  it('shows an admin demographics but not clinical data (nested cases are FORBIDDEN and null, the rest survives)', async () => {
    const id = await patient();
    await openCase(api, id);
    const { mrn } = (await api.as(people.admin).gql('query($id: ID!) { patient(id: $id) { mrn } }', { id })).body.data!.patient;
    const response = await api.as(people.admin).gql('query($id: ID!) { patient(id: $id) { mrn cases { id } } }', { id });
    assert.deepEqual(errorCodes(response), ['FORBIDDEN']);
    assert.deepEqual(response.body.data, { patient: { mrn, cases: null } });
  });

  it('keeps an admin\'s whole page of patients when each one\'s cases are out of reach', async () => {
    const ids = [await patient(), await patient()];
    for (const id of ids) await openCase(api, id);
    const response = await api.as(people.admin).gql('{ me { subject } patients(first: 100) { totalCount edges { node { id cases { id } } } } }');
    const { me, patients } = response.body.data!;
    assert.equal(me.subject, people.admin.sub);
    const nodes = patients.edges.map((edge: { node: { id: string; cases: unknown } }) => edge.node);
    assert.equal(nodes.length, patients.totalCount);
    for (const id of ids) assert.deepEqual(nodes.find((node: { id: string }) => node.id === id), { id, cases: null });
    assert.ok(errorCodes(response).length >= 2 && errorCodes(response).every((code) => code === 'FORBIDDEN'));
    assert.deepEqual(response.body.errors![0]!.path!.slice(-1), ['cases']);
  });
});

describe('a partly refused answer keeps the rest of its data', () => {
  it('answers a query with the allowed fields and FORBIDDEN (with its path) for the refused ones', async () => {
    const response = await api.as(people.clinician).gql('{ me { subject } models { name } auditEvents(first: 1) { totalCount } trainingJobs(first: 1) { totalCount } }');
    const refusals = response.body.errors!.map((error) => [error.extensions!.code, ...error.path!]).sort();
    assert.deepEqual(refusals, [
      ['FORBIDDEN', 'auditEvents'],
      ['FORBIDDEN', 'trainingJobs'],
    ]);
    const data = response.body.data!;
    assert.equal(data.me.subject, people.clinician.sub);
    assert.ok(data.models.some((model: { name: string }) => model.name === 'breast-cancer'));
    assert.deepEqual([data.auditEvents, data.trainingJobs], [null, null]);
  });

  it('reports what an earlier mutation of the document stored when a later one is refused', async () => {
    const mrn = `P-${Math.random().toString(36).slice(2)}`;
    const response = await api.as(people.admin).gql(
      `mutation($existing: ID!) {
        createPatient(input: { mrn: "${mrn}", givenName: "Par", familyName: "Tial", birthDate: "1980-05-05", sex: OTHER }) { id mrn }
        openCase(input: { patientId: $existing, title: "Not an admin's" }) { id }
      }`,
      { existing: await patient() },
    );
    assert.deepEqual(errorCodes(response), ['FORBIDDEN']);
    assert.deepEqual(response.body.errors![0]!.path, ['openCase']);
    const created = response.body.data!.createPatient;
    assert.equal(created.mrn, mrn);
    assert.equal(response.body.data!.openCase, null);
    assert.equal((await prisma.patient.findUniqueOrThrow({ where: { id: created.id } })).mrn, mrn);
  });

  it("answers an interface engine the case it opened on a patient it registered, with the predictions' outcomes null and FORBIDDEN; a patient it did not register is out of its reach", async () => {
    const engine = api.as({ sub: 'mirth-roles', roles: ['integration'] });
    const registered = await engine.gql('mutation { createPatient(input: { mrn: "ROLES-ENGINE-1", givenName: "Ira", familyName: "Feed", birthDate: "1975-03-03", sex: MALE }) { id } }');
    assert.equal(registered.body.errors, undefined, JSON.stringify(registered.body.errors));
    const patientId = registered.body.data!.createPatient.id;
    const response = await engine.gql('mutation($id: ID!) { openCase(input: { patientId: $id, title: "From the HL7 feed" }) { id title observations { id } outcomes { target } } }', { id: patientId });
    const refusals = response.body.errors!.map((error) => [error.extensions!.code, ...error.path!]);
    assert.deepEqual(refusals, [['FORBIDDEN', 'openCase', 'outcomes']]);
    const opened = response.body.data!.openCase;
    assert.deepEqual([opened.title, opened.observations, opened.outcomes], ['From the HL7 feed', [], null]);
    assert.equal((await prisma.case.findUniqueOrThrow({ where: { id: opened.id } })).patientId, patientId);

    const othersPatient = await patient();
    const refused = await engine.gql('mutation($id: ID!) { openCase(input: { patientId: $id, title: "Not ours" }) { id } }', { id: othersPatient });
    assert.deepEqual(errorCodes(refused), ['FORBIDDEN']);
    assert.equal(refused.body.data!.openCase, null);
    assert.equal(await prisma.case.count({ where: { patientId: othersPatient } }), 0);
  });
});
