import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertAccessible, assertStayedOffline, browserSkipReason, openBrowser, saveScreenshot, signIn, startConsoleServer } from '../support/browser.ts';
import { auditEvents } from '../support/audit.ts';
import { createPatient, openCase } from '../support/fixtures.ts';
import { people } from '../support/tokens.ts';

const skip = browserSkipReason();
const api = skip ? undefined : await startConsoleServer();

describe('the admin console', { skip }, () => {
  it('finds a duplicate record, shows refusals beside the field, and merges it after showing both records', async () => {
    const server = api!;
    const survivorId = await createPatient(server, { mrn: 'ADM-SURVIVOR', givenName: 'Mara', familyName: 'Survivor', birthDate: '1970-03-04' }, []);
    const duplicateId = await createPatient(server, { mrn: 'ADM-DUPLICATE', givenName: 'Mara', familyName: 'Duplicate', birthDate: '1970-03-04' });
    const caseId = await openCase(server, duplicateId, 'Follow-up');
    const browser = await openBrowser(server);
    const { page } = browser;

    await signIn(page, people.admin);
    await page.getByRole('heading', { name: 'Patient records' }).waitFor();
    await page.getByRole('link', { name: 'ADM-DUPLICATE' }).waitFor();
    await saveScreenshot(page, 'admin');
    await assertAccessible(page, 'the patient records page');

    await page.getByLabel('Name contains').fill('Duplic');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('caption').filter({ hasText: '1 found' }).waitFor();
    await page.getByRole('link', { name: 'ADM-DUPLICATE' }).click();
    await page.getByRole('heading', { name: /Duplicate, Mara/ }).waitFor();
    await assertAccessible(page, 'a patient record');

    // A refusal is shown beside the field it names, with its code, and nothing changes.
    await page.getByLabel('Given name').fill('');
    await page.getByRole('button', { name: 'Save changes' }).click();
    const fieldError = page.locator('.field', { hasText: 'Given name' }).locator('.field-error');
    await fieldError.waitFor();
    assert.match(await fieldError.innerText(), /^BAD_USER_INPUT: input\.givenName/);
    const { prisma } = server.server.db;
    assert.equal((await prisma.patient.findUniqueOrThrow({ where: { id: duplicateId } })).givenName, 'Mara');

    await page.getByLabel('MRN of the surviving record').fill('ADM-SURVIVOR');
    await page.getByRole('button', { name: 'Compare records…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Merge these two records?' });
    await dialog.waitFor();
    const duplicateSide = dialog.getByRole('region', { name: 'Duplicate (will be archived)' });
    const survivorSide = dialog.getByRole('region', { name: 'Surviving record' });
    assert.match(await duplicateSide.innerText(), /ADM-DUPLICATE[\s\S]*Duplicate, Mara[\s\S]*dr-carter/);
    assert.match(await survivorSide.innerText(), /ADM-SURVIVOR[\s\S]*Survivor, Mara/);
    await assertAccessible(page, 'the merge confirmation');
    await dialog.getByRole('button', { name: 'Merge ADM-DUPLICATE into ADM-SURVIVOR' }).click();
    await page.getByRole('heading', { name: /Survivor, Mara/ }).waitFor();
    assert.match(await page.getByRole('region', { name: 'Care team' }).innerText(), /dr-carter/);

    const duplicate = await prisma.patient.findUniqueOrThrow({ where: { id: duplicateId } });
    assert.ok(duplicate.archivedAt, 'the duplicate is archived');
    assert.equal(duplicate.mergedIntoId, survivorId);
    assert.equal((await prisma.case.findUniqueOrThrow({ where: { id: caseId } })).patientId, survivorId);
    const team = await prisma.careTeamMember.findMany({ where: { patientId: survivorId } });
    assert.deepEqual(team.map((member) => member.clinicianSubject), [people.clinician.sub]);
    const merges = await auditEvents(server, { action: 'patient.merge' }, 10, server.as(people.auditor));
    assert.deepEqual(
      merges.map((record) => [record.actorSubject, record.outcome, [...record.resourceIds].sort()]),
      [[people.admin.sub, 'SUCCESS', [duplicateId, survivorId].sort()]],
    );
    assertStayedOffline(browser);
  });
});
