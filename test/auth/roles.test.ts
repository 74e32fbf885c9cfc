import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { buildSchema } from 'graphql';
import { contractPath } from '../../src/server/schema.ts';
import { auditEvents } from '../support/audit.ts';
import { createPatient, openCase } from '../support/fixtures.ts';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { type Identity, people } from '../support/tokens.ts';

/*
 * For each role, every query and mutation of the contract: allowed or
 * FORBIDDEN as README's role table says. The table below is written out by
 * hand (not read from the policy module), so it checks the policy rather than
 * repeating it; a test further down fails when an operation is missing here.
 */
const api = await startTestServer();
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
  case: { document: 'query($id: ID!) { case(id: $id) { id } }', variables: async () => ({ id: await openCaseFor() }), allowed: ['clinician'] },
  breakGlassGrants: { document: '{ breakGlassGrants(first: 5) { totalCount } }', variables: async () => ({}), allowed: ['auditor'] },
  auditEvents: { document: '{ auditEvents(first: 5) { totalCount } }', variables: async () => ({}), allowed: ['auditor'] },
  verifyAuditChain: { document: '{ verifyAuditChain { intact } }', variables: async () => ({}), allowed: ['auditor'] },
  exportAuditEvents: { document: '{ exportAuditEvents(first: 5) { count } }', variables: async () => ({}), allowed: ['auditor'] },
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
          assert.ok((await latestDenial()) > deniedBefore, `${role}'s denial of ${name} is audited`);
        }
      }
    });
  }

  it('shows an admin demographics but not clinical data (nested cases are FORBIDDEN)', async () => {
    const id = await patient();
    await openCase(api, id);
    const response = await api.as(people.admin).gql('query($id: ID!) { patient(id: $id) { mrn cases { id } } }', { id });
    assert.deepEqual(errorCodes(response), ['FORBIDDEN']);
    assert.deepEqual(response.body.data, { patient: null });
  });
});
