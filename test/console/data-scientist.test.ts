import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertAccessible, assertStayedOffline, browserSkipReason, openBrowser, saveScreenshot, signIn, startConsoleServer } from '../support/browser.ts';
import { people } from '../support/tokens.ts';

const skip = browserSkipReason();
const api = skip ? undefined : await startConsoleServer({ DEFAULT_MODELS: 'true' });
const trainingCsv = fileURLToPath(new URL('../pipeline/fixtures/messy-clinical.csv', import.meta.url));

describe('the data scientist console', { skip }, () => {
  it('trains a model with live progress, reads its card and promotes it with a comment', async () => {
    const server = api!;
    const browser = await openBrowser(server);
    const { page } = browser;
    await signIn(page, people.dataScientist);
    await page.getByRole('heading', { name: 'Model registry' }).waitFor();
    await page.getByRole('heading', { name: 'breast-cancer' }).waitFor();
    assert.match(await page.getByRole('region', { name: 'breast-cancer' }).innerText(), /accuracy: 0\.\d{3} \(0\.\d{3} to \d\.\d{3}\)/);
    await saveScreenshot(page, 'data-scientist');
    await assertAccessible(page, 'the model registry');

    // A regression model's card draws predicted against observed and residuals instead of ROC and calibration.
    await page.getByRole('link', { name: 'diabetes-progression version 1' }).click();
    await page.getByRole('img', { name: 'Predicted against observed on the test split' }).waitFor();
    await page.getByRole('img', { name: 'Residuals on the test split' }).waitFor();
    assert.equal(await page.getByRole('img', { name: 'ROC curve on the test split' }).count(), 0);
    await assertAccessible(page, 'a regression model card');
    await page.getByRole('link', { name: '← Registry' }).click();
    await page.getByRole('heading', { name: 'breast-cancer' }).waitFor();

    await page.getByRole('link', { name: 'performance and drift' }).first().click();
    await page.getByRole('img', { name: /Weekly agreement/ }).waitFor();
    await assertAccessible(page, 'performance and drift');

    // Jobs this browser did not start: another data scientist's, one still running and one failed.
    const { prisma } = server.server.db;
    const elsewhere = await prisma.trainingJob.create({
      data: { modelName: 'sepsis-elsewhere', status: 'RUNNING', requestedBy: 'ds-other', options: {}, startedAt: new Date(), progress: { phase: 'training', epoch: 2, epochs: 40, loss: 0.61 } },
    });
    await prisma.trainingJob.create({ data: { modelName: 'broken-upload', status: 'FAILED', requestedBy: 'ds-other', options: {}, error: 'The target column readmitted is missing.', finishedAt: new Date() } });
    await page.getByRole('link', { name: 'Training' }).click();
    const running = page.getByRole('row', { name: 'Training job sepsis-elsewhere' });
    assert.match(await running.innerText(), /running[\s\S]*training, epoch 2 of 40[\s\S]*ds-other/);
    assert.match(await page.getByRole('row', { name: 'Training job broken-upload' }).innerText(), /failed[\s\S]*The target column readmitted is missing\./);
    // Its progress moves on the page without a reload, with the step it is in.
    await prisma.trainingJob.update({ where: { id: elsewhere.id }, data: { progress: { phase: 'training', epoch: 17, epochs: 40, loss: 0.42 } } });
    await running.getByText('training, epoch 17 of 40').waitFor();
    await prisma.trainingJob.update({ where: { id: elsewhere.id }, data: { progress: { stage: { step: 'evaluating', detail: 'metrics and bootstrap intervals', fraction: 0.6 } } } });
    await running.getByText('evaluating: metrics and bootstrap intervals (60%)').waitFor();
    await page.getByLabel('Status').selectOption('FAILED');
    await page.getByText('Newest first (1 in all)').waitFor();
    assert.equal(await page.getByRole('row', { name: 'Training job sepsis-elsewhere' }).count(), 0);
    await page.getByLabel('Status').selectOption('');

    await page.getByLabel('Registry name').fill('readmission-console');
    await page.getByLabel('Task').selectOption('BINARY');
    await page.getByLabel('Target column').fill('readmitted');
    await page.getByLabel('Most epochs').fill('20');
    await page.getByLabel(/Training data/).setInputFiles(trainingCsv);
    await page.getByRole('button', { name: 'Start training' }).click();
    const job = page.getByRole('row', { name: 'Training job readmission-console' });
    await job.getByText(/^(queued|running|succeeded)$/).waitFor();
    assert.match(await page.locator('tbody tr').first().innerText(), /readmission-console/, 'the new job is listed first');
    await assertAccessible(page, 'training jobs');
    await job.getByText('succeeded', { exact: true }).waitFor({ timeout: 120_000 });
    await saveScreenshot(page, 'data-scientist-training');
    await job.getByRole('link', { name: 'Model card of version 1' }).click();

    await page.getByRole('heading', { name: /readmission-console v1/ }).waitFor();
    await page.getByRole('img', { name: 'ROC curve on the test split' }).waitFor();
    await page.getByRole('img', { name: 'Calibration on the test split' }).waitFor();
    await assertAccessible(page, 'a model card');
    await page.getByLabel('Comment').fill('Validated on the March cohort');
    await page.getByRole('button', { name: 'Promote' }).click();
    await page.getByText('This version serves predictions.').waitFor();

    const model = await server.server.db.prisma.model.findUniqueOrThrow({ where: { name: 'readmission-console' }, include: { versions: true } });
    assert.deepEqual(
      model.versions.map((version) => [version.version, version.stage, version.promotedBy, version.promotionComment]),
      [[1, 'PRODUCTION', people.dataScientist.sub, 'Validated on the March cohort']],
    );
    assertStayedOffline(browser);
  });
});
