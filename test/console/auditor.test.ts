import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { assertAccessible, assertStayedOffline, browserSkipReason, openBrowser, saveScreenshot, signIn, startConsoleServer } from '../support/browser.ts';
import { createPatient } from '../support/fixtures.ts';
import { people } from '../support/tokens.ts';

const skip = browserSkipReason();
const api = skip ? undefined : await startConsoleServer();

describe('the auditor console', { skip }, () => {
  it("filters the log by a patient's MRN, shows a record's detail, exports the range as NDJSON, and reviews break-glass", async () => {
    const server = api!;
    const patientId = await createPatient(server, { mrn: 'AUD-0001', givenName: 'Ines', familyName: 'Audited' });
    await createPatient(server, { mrn: 'AUD-0002', givenName: 'Otto', familyName: 'Other' });
    const readPatient = '{ patientByMrn(mrn: "AUD-0001") { id cases { id } } }';
    await server.as(people.clinician).gql(readPatient);
    const reason = 'Unconscious in the emergency department, care team unreachable';
    const opened = await server.as(people.otherClinician).gql('mutation($id: ID!, $reason: String!) { openBreakGlass(patientId: $id, reason: $reason) { id } }', { id: patientId, reason });
    assert.equal(opened.body.errors, undefined);
    await server.as(people.otherClinician).gql(`query($id: ID!) { patient(id: $id) { mrn } }`, { id: patientId });

    const browser = await openBrowser(server);
    const { page } = browser;
    await signIn(page, people.auditor);
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.getByRole('button', { name: /Details of record/ }).first().waitFor();
    await saveScreenshot(page, 'auditor');
    await assertAccessible(page, 'the audit log');

    await page.getByLabel('Patient MRN').fill('AUD-0001');
    await page.getByLabel('Outcome').selectOption('SUCCESS');
    await page.getByRole('button', { name: 'Apply filter' }).click();
    await page.locator('tbody tr').filter({ hasText: 'patient.lookupForAudit' }).waitFor();
    const patientColumn = await page.locator('tbody tr td:nth-child(6)').allInnerTexts();
    assert.ok(patientColumn.length > 0);
    for (const cell of patientColumn) assert.ok(cell.includes(patientId.slice(0, 8)), `every row names the patient: ${cell}`);
    await page.locator('tbody tr').filter({ hasText: people.otherClinician.sub }).filter({ hasText: 'patient.read' }).getByRole('button', { name: /Details/ }).click();
    const detail = page.getByRole('region', { name: /^Record \d+$/ });
    assert.match(await detail.innerText(), new RegExp(`Break-glass\\s+yes[\\s\\S]*Patients\\s+${patientId}`));
    // Its inclusion proof against the newest signed checkpoint (once the sequencer has integrated it).
    await server.server.app.auditLedger.settle();
    await detail.getByRole('button', { name: 'Prove inclusion in the signed log' }).click();
    const proof = detail.getByRole('definition').filter({ hasText: /of a tree of \d+/ });
    const [, leafIndex, treeSize] = /^(\d+) of a tree of (\d+)$/.exec((await proof.innerText()).trim())!;
    assert.ok(BigInt(leafIndex!) < BigInt(treeSize!));
    assert.match(await detail.locator('pre').innerText(), new RegExp(`^\\S+\n${treeSize}\n[A-Za-z0-9+/]{43}=\n\n\u2014 `));
    await assertAccessible(page, "a record's detail");

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export filtered range (NDJSON)' }).click()]);
    const status = await page.getByRole('status').filter({ hasText: /Exported \d+ records/ }).innerText();
    const exported = (await readFile((await download.path())!, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as FhirAuditEvent);
    assert.equal(status.match(/\d+/)![0], String(exported.length));
    assert.match(download.suggestedFilename(), /^audit-events-.*\.ndjson$/);
    for (const event of exported) {
      assert.equal(event.resourceType, 'AuditEvent');
      assert.ok(event.entity.some((entity) => entity.what?.reference === `Patient/${patientId}`), 'each exported record names the patient');
    }
    // The file holds exactly the filtered range as the database held it (later records, such as the export's own, come after).
    const sequences = exported.map((event) => BigInt(event.extension.find((x) => x.url === 'urn:clinigraph:audit-sequence')!.valueString));
    const last = sequences.reduce((a, b) => (a > b ? a : b));
    const stored = await server.server.db.prisma.auditEvent.findMany({
      where: { patientIds: { has: patientId }, outcome: 'SUCCESS', sequence: { lte: last } },
      orderBy: { sequence: 'asc' },
    });
    assert.deepEqual(exported.map((event) => event.id), stored.map((record) => record.id));

    await page.getByRole('link', { name: 'Break-glass review' }).click();
    const grantRow = page.locator('tbody tr').filter({ hasText: reason });
    await grantRow.waitFor();
    assert.match(await grantRow.innerText(), new RegExp(people.otherClinician.sub));
    await grantRow.getByRole('button', { name: /Show accesses/ }).click();
    const accesses = page.getByRole('region', { name: 'Accesses under this grant' });
    await accesses.locator('tbody tr').filter({ hasText: 'patient.read' }).waitFor();
    assert.match(await accesses.innerText(), /breakGlass\.open/);
    await assertAccessible(page, 'the break-glass review');

    await page.getByRole('link', { name: 'Ledger' }).click();
    // The signed checkpoint to keep: origin, tree size, root hash, then the signature; shown at once, and after verifying.
    const checkpoint = /^\S+\n\d+\n[A-Za-z0-9+/]{43}=\n\n\u2014 /;
    const newest = page.getByRole('region', { name: 'Newest signed checkpoint' }).locator('pre');
    await newest.waitFor();
    assert.match(await newest.innerText(), checkpoint);
    await page.getByRole('button', { name: 'Verify the ledger' }).click();
    await page.getByRole('heading', { name: 'Intact' }).waitFor();
    assert.match(await page.getByRole('region', { name: 'Intact' }).locator('pre').innerText(), checkpoint);
    await saveScreenshot(page, 'auditor-ledger');
    await assertAccessible(page, 'the ledger');
    assertStayedOffline(browser);
  });
});

interface FhirAuditEvent {
  resourceType: string;
  id: string;
  entity: { what?: { reference?: string } }[];
  extension: { url: string; valueString: string }[];
}
