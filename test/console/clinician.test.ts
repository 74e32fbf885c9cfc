import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertAccessible, assertStayedOffline, browserSkipReason, openBrowser, saveScreenshot, signIn, startConsoleServer } from '../support/browser.ts';
import { caseWithObservations, createPatient, modelObservations } from '../support/fixtures.ts';
import { people } from '../support/tokens.ts';

const skip = browserSkipReason();
const api = skip ? undefined : await startConsoleServer({ DEFAULT_MODELS: 'true' });

describe('the clinician console', { skip }, () => {
  it('requests a prediction, reads its explanation, reviews it and records the outcome', async () => {
    const server = api!;
    const patientId = await createPatient(server, { mrn: 'CLIN-0001', givenName: 'Cora', familyName: 'Caredfor' });
    const observations = await modelObservations('breast-cancer', 0);
    const caseId = await caseWithObservations(server, observations, patientId);
    // Earlier measurements of one code, so its chart is a series over time.
    const earlier = [30, 20, 10].map((days, index) => ({ code: 'mean_area', value: 900 + index * 40, unit: observations.find((o) => o.code === 'mean_area')!.unit, observedAt: new Date(Date.now() - days * 86_400_000).toISOString() }));
    const added = await server.as(people.clinician).gql('mutation($id: ID!, $o: [ObservationInput!]!) { addObservations(caseId: $id, observations: $o) { id } }', { id: caseId, o: earlier });
    assert.equal(added.body.errors, undefined, JSON.stringify(added.body.errors));
    const browser = await openBrowser(server);
    const { page } = browser;

    await signIn(page, people.clinician);
    await page.getByRole('heading', { name: 'My patients' }).waitFor();
    await page.getByRole('link', { name: 'Caredfor, Cora' }).click();
    await page.getByRole('link', { name: 'Fixture case' }).click();
    await page.getByRole('img', { name: 'mean_area over time' }).waitFor();
    const series = page.getByRole('region', { name: /^Observations/ }).locator('figure table tbody tr');
    assert.equal(await series.count(), 4, 'the chart of mean_area holds its four measurements');
    await assertAccessible(page, 'a case with its observations chart');

    await page.getByLabel('Model', { exact: true }).selectOption('breast-cancer');
    await page.getByRole('button', { name: 'Request prediction' }).click();
    const card = page.getByRole('region', { name: /^Prediction by breast-cancer/ });
    await card.getByRole('heading', { name: /^breast-cancer v1: (malignant|benign)$/ }).waitFor();
    await card.getByRole('img', { name: /What moved malignancy probability/ }).waitFor();
    assert.match(await card.getByRole('table', { name: 'Probabilities' }).innerText(), /malignant\s+\d+\.\d%/);
    assert.match(await card.innerText(), /Every input lies within the range|Outside what the model saw in training/);
    assert.match(await card.innerText(), /The effects add up to the change from a typical case within/);
    await saveScreenshot(page, 'clinician');
    await assertAccessible(page, 'a prediction with its explanation');

    await card.getByLabel('Disagree').check();
    await card.getByLabel('Note').fill('Cytology pending; looks benign to me');
    await card.getByRole('button', { name: 'Save review' }).click();
    await card.getByText(/Reviewed: disagree by dr-carter/).waitFor();

    await page.getByLabel('Target (e.g. diagnosis)').fill('diagnosis');
    await page.getByLabel('Class (classification)').fill('benign');
    await page.getByRole('button', { name: 'Record outcome' }).click();
    await page.getByRole('region', { name: 'Outcomes' }).getByRole('cell', { name: 'benign' }).waitFor();

    const { prisma } = server.server.db;
    const predictions = await prisma.prediction.findMany({ where: { caseId } });
    assert.equal(predictions.length, 1);
    assert.equal(predictions[0]!.requestedBy, people.clinician.sub);
    assert.equal(predictions[0]!.reviewDecision, 'DISAGREE');
    assert.equal(predictions[0]!.reviewNote, 'Cytology pending; looks benign to me');
    assert.equal(predictions[0]!.reviewedBy, people.clinician.sub);
    const outcomes = await prisma.caseOutcome.findMany({ where: { caseId } });
    assert.deepEqual(outcomes.map((outcome) => [outcome.target, outcome.label, outcome.recordedBy]), [['diagnosis', 'benign', people.clinician.sub]]);
    assertStayedOffline(browser);
  });

  it('opens break-glass access only with a reason, and shows when it expires', async () => {
    const server = api!;
    const strangerId = await createPatient(server, { mrn: 'CLIN-0002', givenName: 'Sam', familyName: 'Stranger' }, []);
    const browser = await openBrowser(server);
    const { page } = browser;
    await signIn(page, people.clinician);
    // Tokens live in memory only, so the console is navigated from within, not by reloading.
    await page.getByLabel('Patient record id').fill(strangerId);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'FORBIDDEN' }).waitFor();
    await page.getByRole('button', { name: 'Emergency access…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Emergency access (break-glass)' });
    await dialog.getByRole('button', { name: 'Open emergency access' }).click();
    assert.match(await dialog.locator('.field-error').innerText(), /^BAD_USER_INPUT: reason/);
    assert.equal(await server.server.db.prisma.breakGlassGrant.count({ where: { patientId: strangerId } }), 0);
    await assertAccessible(page, 'the break-glass dialog');

    await dialog.getByLabel('Reason').fill('Collapsed in the waiting room; no care-team clinician on site');
    await dialog.getByRole('button', { name: 'Open emergency access' }).click();
    const granted = await dialog.getByRole('status').innerText();
    const grant = await server.server.db.prisma.breakGlassGrant.findFirstOrThrow({ where: { patientId: strangerId } });
    assert.equal(grant.clinicianSubject, people.clinician.sub);
    assert.equal(grant.reason, 'Collapsed in the waiting room; no care-team clinician on site');
    assert.match(granted, /Access granted until \d+ \w+ \d{4}, \d\d:\d\d:\d\d/);
    await dialog.getByRole('button', { name: 'Open the record' }).click();
    await page.getByRole('heading', { name: /Stranger, Sam/ }).waitFor();
    assertStayedOffline(browser);
  });
});
