import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditEvents, entityOf } from '../support/audit.ts';
import { createPatient, openCase } from '../support/fixtures.ts';
import { errorCodes, type GraphQLResponse, startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const api = await startTestServer();
const carer = api.as(people.clinician);
const outsider = api.as(people.otherClinician);
const admin = api.as(people.admin);

// A patient on dr-carter's team, with a case and an observation; dr-outsider is on no team of it.
const patientId = await createPatient(api, { familyName: 'Guarded', mrn: 'GUARD-1' });
const caseId = await openCase(api, patientId);
await carer.gql('mutation($id: ID!) { addObservations(caseId: $id, observations: [{ code: "heart_rate", value: 61 }]) { id } }', { id: caseId });
const ownPatientId = await createPatient(api, { familyName: 'Own', mrn: 'OWN-1' }, [people.otherClinician]);
const unknownId = '00000000-0000-4000-8000-00000000dead';

describe('a clinician outside the care team', () => {
  const paths: [string, string, Record<string, unknown>][] = [
    ['patient by id', 'query($id: ID!) { patient(id: $id) { familyName } }', { id: patientId }],
    ['patient by MRN', '{ patientByMrn(mrn: "GUARD-1") { familyName } }', {}],
    ['case by id', 'query($id: ID!) { case(id: $id) { title } }', { id: caseId }],
    ['nested: the case’s patient', 'query($id: ID!) { case(id: $id) { patient { familyName } } }', { id: caseId }],
    ['open a case', 'mutation($id: ID!) { openCase(input: { patientId: $id, title: "x" }) { id } }', { id: patientId }],
    ['add observations', 'mutation($id: ID!) { addObservations(caseId: $id, observations: [{ code: "x", value: 1 }]) { id } }', { id: caseId }],
    ['close the case', 'mutation($id: ID!) { closeCase(id: $id) { id } }', { id: caseId }],
    ['record consent', 'mutation($id: ID!) { recordAiConsent(patientId: $id, status: WITHDRAWN) { id } }', { id: patientId }],
  ];

  for (const [name, document, variables] of paths) {
    it(`is refused: ${name}, with no data and the denial audited`, async () => {
      const response = await outsider.gql(document, variables);
      assert.deepEqual(errorCodes(response), ['FORBIDDEN']);
      assert.doesNotMatch(JSON.stringify(response.body), /Guarded|heart_rate|GUARD-1/);
      const [denial] = await auditEvents(api, { actorSubject: people.otherClinician.sub, outcome: 'DENIED' }, 1);
      assert.ok(denial!.patientIds.includes(patientId) || denial!.resourceType !== null, JSON.stringify(denial));
    });
  }

  it('gets the same answer for another team’s patient as for one that does not exist', async () => {
    const document = 'query($id: ID!) { patient(id: $id) { id } }';
    const other = await outsider.gql(document, { id: patientId });
    const missing = await outsider.gql(document, { id: unknownId });
    assert.deepEqual(other.body, missing.body);
    const otherCase = await outsider.gql('query($id: ID!) { case(id: $id) { id } }', { id: caseId });
    const missingCase = await outsider.gql('query($id: ID!) { case(id: $id) { id } }', { id: unknownId });
    assert.deepEqual(otherCase.body, missingCase.body);
    const otherMrn = await outsider.gql('{ patientByMrn(mrn: "GUARD-1") { id } }');
    const missingMrn = await outsider.gql('{ patientByMrn(mrn: "NOPE-404") { id } }');
    assert.deepEqual(otherMrn.body, missingMrn.body);
  });

  it('sees only their own patients in lists, and counts only those', async () => {
    const response = await outsider.gql('{ patients(first: 100, filter: { includeArchived: true }) { totalCount edges { node { id } } } }');
    assert.deepEqual(response.body.data!.patients, { totalCount: 1, edges: [{ node: { id: ownPatientId } }] });
    const searched = await outsider.gql('{ patients(first: 100, filter: { nameContains: "guard" }) { totalCount } }');
    assert.equal(searched.body.data!.patients.totalCount, 0);
  });

  it('loses access when removed from the team, and gains it when added', async () => {
    const document = 'query($id: ID!) { patient(id: $id) { id } }';
    await admin.gql('mutation($id: ID!) { addCareTeamMember(patientId: $id, clinicianSubject: "dr-outsider") { clinicianSubject } }', { id: patientId });
    assert.equal((await outsider.gql(document, { id: patientId })).body.errors, undefined);
    await admin.gql('mutation($id: ID!) { removeCareTeamMember(patientId: $id, clinicianSubject: "dr-outsider") { clinicianSubject } }', { id: patientId });
    assert.deepEqual(errorCodes(await outsider.gql(document, { id: patientId })), ['FORBIDDEN']);
  });
});

describe('an access lookup that fails', () => {
  it('is answered as the failure it is, not FORBIDDEN, and audited as no denial', async () => {
    const { prisma } = api.server.db;
    const document = 'query($id: ID!) { patient(id: $id) { familyName cases { id } } }';
    const deniedBefore = await auditEvents(api, { actorSubject: people.clinician.sub, outcome: 'DENIED' });
    // The care team's own clinician, whose access lookup now fails (its statement reads a table that is gone).
    await prisma.$executeRawUnsafe('ALTER TABLE "BreakGlassGrant" RENAME TO "BreakGlassGrantAway"');
    try {
      const response = await carer.gql(document, { id: patientId });
      assert.deepEqual(errorCodes(response), ['INTERNAL_SERVER_ERROR']);
      assert.equal(response.body.data?.patient ?? null, null);
      assert.doesNotMatch(JSON.stringify(response.body), /Guarded|BreakGlassGrant/);
    } finally {
      await prisma.$executeRawUnsafe('ALTER TABLE "BreakGlassGrantAway" RENAME TO "BreakGlassGrant"');
    }
    assert.deepEqual(await auditEvents(api, { actorSubject: people.clinician.sub, outcome: 'DENIED' }), deniedBefore);
    assert.equal((await carer.gql(document, { id: patientId })).body.data!.patient.familyName, 'Guarded');
  });
});

describe('break-glass', () => {
  const openGlass = (reason: string, id = patientId) =>
    outsider.gql('mutation($id: ID!, $reason: String!) { openBreakGlass(patientId: $id, reason: $reason) { id expiresAt active } }', { id, reason });

  it('needs a reason in words', async () => {
    for (const reason of ['', 'urgent', 'aaaaaaaaaa', 'aaaa aaaa aaaa', 'xx yy zz qq rr', 'asdf asdf asdf', '1234567890 42 7', 'ok ok ok ok ok ok']) {
      const response = await openGlass(reason);
      assert.deepEqual(errorCodes(response), ['BAD_USER_INPUT'], `refuses ${JSON.stringify(reason)}`);
      assert.equal(response.body.errors![0]!.extensions!.argument, 'reason');
    }
    assert.equal(await api.server.db.prisma.breakGlassGrant.count(), 0);
  });

  it('opens access for the configured time, flags every audit record it produces, and shows up for auditors', async () => {
    const opened = await openGlass('Unconscious in the ED, needs history now');
    assert.equal(opened.body.errors, undefined);
    const grant = opened.body.data!.openBreakGlass;
    const minutes = (new Date(grant.expiresAt).getTime() - Date.now()) / 60_000;
    assert.ok(minutes > 59 && minutes <= 60, `lasts 60 minutes by default, got ${minutes}`);

    const read = await outsider.gql('query($id: ID!) { patient(id: $id) { familyName cases { observations { code } } } }', { id: patientId });
    assert.equal(read.body.errors, undefined);
    assert.equal(read.body.data!.patient.familyName, 'Guarded');

    // Newest first: the first record found for each action is the one this access produced (the read is one record naming each kind).
    for (const action of ['breakGlass.open', 'patient.read', 'case.read', 'observation.read']) {
      const [record] = await auditEvents(api, { actorSubject: people.otherClinician.sub, outcome: 'SUCCESS', action }, 1);
      assert.equal(record?.breakGlass, true, `${action} is flagged`);
      assert.deepEqual(record?.patientIds, [patientId]);
    }
    const flagged = await auditEvents(api, { breakGlass: true, actorSubject: people.otherClinician.sub });
    assert.ok(flagged.length >= 2, 'the grant and the read');
    const grants = await api.as(people.auditor).gql('{ breakGlassGrants(first: 10) { totalCount edges { node { clinicianSubject patientId reason active } } } }');
    assert.deepEqual(grants.body.data!.breakGlassGrants.edges.map((e: any) => e.node), [
      { clinicianSubject: people.otherClinician.sub, patientId, reason: 'Unconscious in the ED, needs history now', active: true },
    ]);
  });

  it('does not flag the care team’s own access to the same patient', async () => {
    await carer.gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId });
    const [record] = await auditEvents(api, { actorSubject: people.clinician.sub, action: 'patient.read' }, 1);
    assert.equal(record!.breakGlass, false);
  });

  it('expires', async () => {
    await api.server.db.prisma.breakGlassGrant.updateMany({
      where: { clinicianSubject: people.otherClinician.sub },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const response = await outsider.gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId });
    assert.deepEqual(errorCodes(response), ['FORBIDDEN']);
    const grants = await api.as(people.auditor).gql('{ breakGlassGrants(first: 10) { edges { node { active } } } }');
    assert.deepEqual(grants.body.data!.breakGlassGrants.edges.map((e: any) => e.node.active), [false]);
  });

  it('is for clinicians only', async () => {
    const response = await api.as(people.dataScientist).gql('mutation($id: ID!) { openBreakGlass(patientId: $id, reason: "I would like to see this") { id } }', { id: patientId });
    assert.deepEqual(errorCodes(response), ['FORBIDDEN']);
  });

  it('answers an unknown patient id as it answers a patient it opens, from the same work, and tells auditors which it was', async () => {
    const otherId = await createPatient(api, { familyName: 'Elsewhere' });
    const document = 'mutation($id: ID!, $reason: String!) { openBreakGlass(patientId: $id, reason: $reason) { patientId clinicianSubject reason active } }';
    const attempt = async (id: string) => {
      let statements = 0;
      const stop = api.server.db.onQuery(() => statements++);
      const response = await outsider.gql(document, { id, reason: 'Collapsed in the waiting room, no history' });
      stop();
      return { statements, response };
    };
    const known = await attempt(otherId);
    const unknown = await attempt(unknownId);
    assert.equal(known.response.body.errors, undefined);
    assert.deepEqual(unknown.response.body, { data: { openBreakGlass: { ...known.response.body.data!.openBreakGlass, patientId: unknownId } } });
    assert.equal(unknown.response.status, known.response.status);
    assert.equal(unknown.statements, known.statements, 'as many SQL statements for an unknown id as for a patient');
    // The unknown id reaches no one, and the audit log says so.
    assert.deepEqual(errorCodes(await outsider.gql('query($id: ID!) { patient(id: $id) { id } }', { id: unknownId })), ['FORBIDDEN']);
    assert.equal((await outsider.gql('query($id: ID!) { patient(id: $id) { familyName } }', { id: otherId })).body.data!.patient.familyName, 'Elsewhere');
    const [refused] = await auditEvents(api, { action: 'breakGlass.open', patientId: unknownId });
    assert.deepEqual([refused?.outcome, refused?.reason, refused?.breakGlass], ['DENIED', 'no-active-patient', true]);
    const [opened] = await auditEvents(api, { action: 'breakGlass.open', patientId: otherId });
    assert.equal(opened?.outcome, 'SUCCESS');
  });

  it('opens access within the same document: a refusal before it is not remembered after it', async () => {
    const id = await createPatient(api, { familyName: 'Later' });
    const consent = 'recordAiConsent(patientId: $id, status: GRANTED) { familyName }';
    const response = await outsider.gql(`mutation($id: ID!, $reason: String!) { before: ${consent} open: openBreakGlass(patientId: $id, reason: $reason) { active } after: ${consent} }`, {
      id,
      reason: 'Arrived unresponsive, family asks for care now',
    });
    assert.deepEqual(errorCodes(response), ['FORBIDDEN']);
    assert.deepEqual(response.body.errors![0]!.path, ['before']);
    assert.deepEqual(response.body.data, { before: null, open: { active: true }, after: { familyName: 'Later' } });
  });
});

describe('reads of who cares for a patient and of their consent history', () => {
  it('are audited, with the patient, as any read of their record', async () => {
    const response = await carer.gql('query($id: ID!) { patient(id: $id) { careTeam { clinicianSubject } consentHistory { status } } }', { id: patientId });
    assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
    for (const action of ['careTeam.read', 'consent.read']) {
      const [record] = await auditEvents(api, { actorSubject: people.clinician.sub, action }, 1);
      assert.deepEqual([record?.outcome, entityOf(record!, action).resourceType, record?.patientIds], ['SUCCESS', 'Patient', [patientId]], action);
    }
  });
});

describe('consent', () => {
  it('records each choice with who and when, keeps the history, and audits the change', async () => {
    const id = await createPatient(api);
    const withdraw = await carer.gql('mutation($id: ID!) { recordAiConsent(patientId: $id, status: WITHDRAWN, note: "Asked at intake") { aiConsent aiConsentUpdatedAt } }', { id });
    assert.equal(withdraw.body.data!.recordAiConsent.aiConsent, 'WITHDRAWN');
    await admin.gql('mutation($id: ID!) { recordAiConsent(patientId: $id, status: GRANTED) { aiConsent } }', { id });
    const history = await carer.gql('query($id: ID!) { patient(id: $id) { aiConsent consentHistory { status note recordedBy } } }', { id });
    assert.deepEqual(history.body.data!.patient, {
      aiConsent: 'GRANTED',
      consentHistory: [
        { status: 'GRANTED', note: null, recordedBy: people.admin.sub },
        { status: 'WITHDRAWN', note: 'Asked at intake', recordedBy: people.clinician.sub },
      ],
    });
    const changes = await auditEvents(api, { action: 'consent.record', patientId: id });
    assert.deepEqual(changes.map((record) => [record.actorSubject, record.reason]), [
      [people.admin.sub, 'GRANTED'],
      [people.clinician.sub, 'WITHDRAWN'],
    ]);
  });
});

describe('the break-glass review queue', () => {
  it('lists grants newest first, page after page, the same instant ordered by id', async () => {
    const { prisma } = api.server.db;
    const instant = new Date('2026-02-02T02:00:00.000Z');
    const grant = (grantedAt: Date, reason: string) =>
      prisma.breakGlassGrant.create({ data: { clinicianSubject: 'dr-queue', patientId, reason, grantedAt, expiresAt: new Date(grantedAt.getTime() + 3_600_000) } });
    const older = await grant(new Date('2026-02-01T01:00:00.000Z'), 'Older emergency in the ward');
    const twins = [await grant(instant, 'Twin emergency one'), await grant(instant, 'Twin emergency two')].sort((a, b) => (a.id < b.id ? 1 : -1));
    const newest = await grant(new Date('2026-02-03T03:00:00.000Z'), 'Newest emergency at night');
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const response = await api.as(people.auditor).gql('query($after: String) { breakGlassGrants(clinicianSubject: "dr-queue", first: 1, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }', { after });
      assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
      const page = response.body.data!.breakGlassGrants;
      seen.push(...page.edges.map((edge: { node: { id: string } }) => edge.node.id));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : undefined;
    } while (after);
    assert.deepEqual(seen, [newest.id, ...twins.map((twin) => twin.id), older.id]);
  });
});

describe('a clinician’s patient list', () => {
  it('pages through the care team and the patients of active grants together, in list order, each patient once', async () => {
    const lister = { sub: 'dr-lister', roles: ['clinician'] };
    const [first, both, third, archived, last] = [
      await createPatient(api, { familyName: 'Listed' }, [lister]),
      await createPatient(api, { familyName: 'Listed' }, [lister]),
      await createPatient(api, { familyName: 'Listed' }, [lister]),
      await createPatient(api, { familyName: 'Listed' }, [lister]),
      await createPatient(api, { familyName: 'Listed' }, [lister]),
    ];
    const grantedOnly = await createPatient(api, { familyName: 'Granted' }, []);
    await createPatient(api, { familyName: 'Unreached' }, []);
    for (const id of [grantedOnly, both]) {
      const opened = await api.as(lister).gql('mutation($id: ID!) { openBreakGlass(patientId: $id, reason: "Seen in the ED tonight") { id } }', { id });
      assert.equal(opened.body.errors, undefined, JSON.stringify(opened.body.errors));
    }
    await admin.gql('mutation($id: ID!) { archivePatient(id: $id) { id } }', { id: archived });

    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      const response: GraphQLResponse = await api.as(lister).gql('query($after: String) { patients(first: 2, after: $after) { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }', { after });
      assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
      const { totalCount, edges, pageInfo } = response.body.data!.patients;
      assert.equal(totalCount, 5);
      seen.push(...edges.map((edge: { node: { id: string } }) => edge.node.id));
      if (!pageInfo.hasNextPage) break;
      after = pageInfo.endCursor;
    }
    assert.deepEqual(seen, [first, both, third, last, grantedOnly]);
    const everything = await api.as(lister).gql('{ patients(first: 10, filter: { includeArchived: true }) { edges { node { id } } } }');
    assert.deepEqual(everything.body.data!.patients.edges.map((edge: { node: { id: string } }) => edge.node.id), [first, both, third, archived, last, grantedOnly]);
  });
});
