import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorCodes, startTestServer, type TestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const patientFields = 'id mrn givenName familyName birthDate sex phone email address archived archivedAt createdAt';
const createPatient = `mutation Create($input: CreatePatientInput!) { createPatient(input: $input) { ${patientFields} } }`;
const getPatient = `query Get($id: ID!) { patient(id: $id) { ${patientFields} } }`;
const listPatients = `query List($filter: PatientFilter, $first: Int, $after: String) {
  patients(filter: $filter, first: $first, after: $after) {
    totalCount edges { cursor node { mrn familyName } } pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}`;

const api: TestServer = await startTestServer();
const admin = api.as(people.admin);
let sequence = 0;
const input = (overrides: Record<string, unknown> = {}) => ({
  mrn: `MRN-${++sequence}`,
  givenName: 'Test',
  familyName: 'Person',
  birthDate: '1970-01-31',
  sex: 'FEMALE',
  ...overrides,
});

async function create(overrides: Record<string, unknown> = {}) {
  const response = await admin.gql(createPatient, { input: input(overrides) });
  assert.deepEqual(response.body.errors, undefined);
  return response.body.data!.createPatient;
}

describe('patients', () => {
  it('creates a patient and reads it back by id and by MRN', async () => {
    const created = await create({ mrn: 'A-100', phone: '+44 20 7946 0000', email: 'a.person@example.org' });
    assert.match(created.id, /^[0-9a-f-]{36}$/);
    assert.equal(created.birthDate, '1970-01-31');
    assert.equal(created.archived, false);
    const byId = await admin.gql(getPatient, { id: created.id });
    assert.deepEqual(byId.body.data!.patient, created);
    const byMrn = await admin.gql(`{ patientByMrn(mrn: "A-100") { id email } }`);
    assert.deepEqual(byMrn.body.data!.patientByMrn, { id: created.id, email: 'a.person@example.org' });
  });

  it('answers null for a patient that does not exist', async () => {
    const response = await admin.gql(getPatient, { id: '00000000-0000-4000-8000-000000000000' });
    assert.equal(response.body.data!.patient, null);
    assert.equal(response.body.errors, undefined);
  });

  it('updates given fields only and clears optional ones with null', async () => {
    const created = await create({ phone: '555-0100' });
    const response = await admin.gql(
      `mutation($id: ID!, $input: UpdatePatientInput!) { updatePatient(id: $id, input: $input) { ${patientFields} } }`,
      { id: created.id, input: { familyName: 'Renamed', phone: null } },
    );
    const updated = response.body.data!.updatePatient;
    assert.equal(updated.familyName, 'Renamed');
    assert.equal(updated.givenName, created.givenName);
    assert.equal(updated.phone, null);
  });

  it('archives instead of deleting, hides archived patients from lists unless asked, and refuses changes to them', async () => {
    const created = await create({ familyName: 'Archivable' });
    const archived = await admin.gql(`mutation($id: ID!) { archivePatient(id: $id) { archived archivedAt } }`, { id: created.id });
    assert.equal(archived.body.data!.archivePatient.archived, true);
    const hidden = await admin.gql(listPatients, { filter: { nameContains: 'archivable' } });
    assert.equal(hidden.body.data!.patients.totalCount, 0);
    const shown = await admin.gql(listPatients, { filter: { nameContains: 'archivable', includeArchived: true } });
    assert.equal(shown.body.data!.patients.totalCount, 1);
    const again = await admin.gql(`mutation($id: ID!) { archivePatient(id: $id) { id } }`, { id: created.id });
    assert.deepEqual(errorCodes(again), ['CONFLICT']);
    const update = await admin.gql(`mutation($id: ID!) { updatePatient(id: $id, input: { givenName: "X" }) { id } }`, { id: created.id });
    assert.deepEqual(errorCodes(update), ['CONFLICT']);
    const stillThere = await admin.gql(getPatient, { id: created.id });
    assert.equal(stillThere.body.data!.patient.givenName, created.givenName);
  });

  it('pages through patients with keyset cursors, in order of registration, with a total count', async () => {
    const mrns = [];
    for (let i = 0; i < 7; i++) mrns.push((await create({ familyName: 'Pager', mrn: `PG-${i}` })).mrn);
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const response = await admin.gql(listPatients, { filter: { nameContains: 'PAGER' }, first: 3, after });
      const page = response.body.data!.patients;
      assert.equal(page.totalCount, 7);
      assert.equal(page.pageInfo.hasPreviousPage, after !== undefined);
      seen.push(...page.edges.map((edge: any) => edge.node.mrn));
      pages++;
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen, mrns);
  });

  it('pages through patients registered at the same instant without skipping or repeating one (ties broken by id)', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await create({ familyName: 'Twin', mrn: `TW-${i}` })).id);
    await api.server.db.prisma.patient.updateMany({ where: { id: { in: ids } }, data: { createdAt: new Date('2026-01-01T00:00:00.000Z') } });
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = (await admin.gql(`query($after: String) { patients(filter: { nameContains: "TWIN" }, first: 2, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`, { after })).body
        .data!.patients;
      seen.push(...page.edges.map((edge: any) => edge.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    assert.deepEqual(seen, [...ids].sort());
  });

  it('filters by exact MRN and by part of either name, case-insensitively', async () => {
    await create({ givenName: 'Marguerite', familyName: 'Filterby', mrn: 'F-1' });
    await create({ givenName: 'Otto', familyName: 'Marguerite-Smith', mrn: 'F-2' });
    const byName = await admin.gql(listPatients, { filter: { nameContains: 'MARGUER' } });
    assert.deepEqual(byName.body.data!.patients.edges.map((e: any) => e.node.mrn).sort(), ['F-1', 'F-2']);
    const byMrn = await admin.gql(listPatients, { filter: { mrn: 'F-2' } });
    assert.deepEqual(byMrn.body.data!.patients.edges.map((e: any) => e.node.mrn), ['F-2']);
  });
});

describe('patients: bad input gets a coded error and changes nothing', () => {
  async function patientCount() {
    const response = await admin.gql(`{ patients(first: 1, filter: { includeArchived: true }) { totalCount } }`);
    return response.body.data!.patients.totalCount as number;
  }

  async function rejected(variables: Record<string, unknown>, code: string, messagePart?: RegExp) {
    const before = await patientCount();
    const response = await admin.gql(createPatient, variables);
    assert.deepEqual(errorCodes(response), [code], JSON.stringify(response.body.errors));
    const error = response.body.errors![0]!;
    if (messagePart) assert.match(error.message, messagePart);
    assert.equal(error.extensions?.stacktrace, undefined);
    assert.equal(await patientCount(), before);
    return error;
  }

  it('refuses a duplicate MRN with CONFLICT', async () => {
    await create({ mrn: 'DUP-1' });
    await rejected({ input: input({ mrn: 'DUP-1' }) }, 'CONFLICT', /DUP-1 already exists/);
  });

  it('refuses an update to an MRN that another patient has, leaving the record as it was', async () => {
    await create({ mrn: 'DUP-2' });
    const other = await create({ mrn: 'DUP-3' });
    const response = await admin.gql(`mutation($id: ID!) { updatePatient(id: $id, input: { mrn: "DUP-2" }) { id } }`, { id: other.id });
    assert.deepEqual(errorCodes(response), ['CONFLICT']);
    assert.equal((await admin.gql(getPatient, { id: other.id })).body.data!.patient.mrn, 'DUP-3');
  });

  it('refuses invalid dates and birth dates in the future or before 1900', async () => {
    await rejected({ input: input({ birthDate: '1970-02-30' }) }, 'BAD_USER_INPUT');
    await rejected({ input: input({ birthDate: 'yesterday' }) }, 'BAD_USER_INPUT');
    const nextYear = `${new Date().getUTCFullYear() + 1}-01-01`;
    await rejected({ input: input({ birthDate: nextYear }) }, 'BAD_USER_INPUT', /future/);
    await rejected({ input: input({ birthDate: '1850-01-01' }) }, 'BAD_USER_INPUT', /1900/);
  });

  it('refuses an unknown sex code', async () => {
    await rejected({ input: input({ sex: 'F' }) }, 'BAD_USER_INPUT');
  });

  it('refuses empty, blank and oversized strings, naming the field', async () => {
    const empty = await rejected({ input: input({ givenName: '   ' }) }, 'BAD_USER_INPUT', /givenName/);
    assert.equal(empty.extensions?.field, 'input.givenName');
    await rejected({ input: input({ familyName: 'x'.repeat(101) }) }, 'BAD_USER_INPUT', /at most 100/);
    await rejected({ input: input({ mrn: 'has space' }) }, 'BAD_USER_INPUT', /mrn/);
    await rejected({ input: input({ email: 'not-an-email' }) }, 'BAD_USER_INPUT');
  });

  it('refuses a missing required field', async () => {
    const { familyName: _omit, ...withoutFamilyName } = input();
    await rejected({ input: withoutFamilyName }, 'BAD_USER_INPUT', /familyName/);
  });

  it('refuses malformed ids', async () => {
    const response = await admin.gql(getPatient, { id: 'not-a-uuid' });
    assert.deepEqual(errorCodes(response), ['BAD_USER_INPUT']);
    assert.match(response.body.errors![0]!.message, /not a valid ID/);
    const archive = await admin.gql(`mutation { archivePatient(id: "1; DROP TABLE \\"Patient\\"") { id } }`);
    assert.deepEqual(errorCodes(archive), ['BAD_USER_INPUT']);
  });

  it('answers NOT_FOUND when changing a patient that does not exist', async () => {
    const response = await admin.gql(`mutation { updatePatient(id: "00000000-0000-4000-8000-000000000000", input: { givenName: "X" }) { id } }`);
    assert.deepEqual(errorCodes(response), ['NOT_FOUND']);
  });

  it('refuses a page size over the limit, a zero page size and a cursor it did not issue', async () => {
    const tooBig = await admin.gql(listPatients, { first: 101 });
    assert.deepEqual(errorCodes(tooBig), ['BAD_USER_INPUT']);
    assert.equal(tooBig.body.errors![0]!.extensions?.max, 100);
    assert.deepEqual(errorCodes(await admin.gql(listPatients, { first: 0 })), ['BAD_USER_INPUT']);
    assert.deepEqual(errorCodes(await admin.gql(listPatients, { after: 'bm9wZQ' })), ['BAD_USER_INPUT']);
  });

  it('rejects a document that is not GraphQL, and an unknown field, with codes and no stack trace', async () => {
    const parse = await admin.gql('{ patients(first: 1) { ');
    assert.deepEqual(errorCodes(parse), ['GRAPHQL_PARSE_FAILED']);
    const unknown = await admin.gql('{ patients { ssn } }');
    assert.deepEqual(errorCodes(unknown), ['GRAPHQL_VALIDATION_FAILED']);
    for (const response of [parse, unknown]) assert.doesNotMatch(JSON.stringify(response.body), /at .*\.ts:\d+/);
  });
});
