import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.ts';
import { startServer } from '../../src/server/start.ts';
import { createTestDatabase } from '../support/test-database.ts';

/*
 * README's shell examples, exactly as a newcomer pastes them: the blocks
 * marked for this test, in order, in one bash session, against a server
 * started as `npm start` starts it (development key, demo data, default
 * models) on a database of its own. Only the README's URL is replaced.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const marker = '<!-- run in order by test/server/readme.test.ts -->';
const readmeUrl = 'http://127.0.0.1:4000/graphql';

/** The marked sh blocks of README.md, in order. */
async function readmeBlocks(): Promise<string[]> {
  const readme = await readFile(`${root}README.md`, 'utf8');
  return readme
    .split(marker)
    .slice(1)
    .map((part) => {
      const block = /^\s*```sh\n([\s\S]*?)\n```/.exec(part);
      assert.ok(block, `a marked block is not a sh block: ${part.slice(0, 80)}`);
      return block[1]!;
    });
}

const database = await createTestDatabase();
const config = loadConfig({ PORT: '0', DATA_DIR: database.dataDir, DATABASE_POOL_SIZE: '5', ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}) });
const server = await startServer(config, pino({ level: 'silent' }));
// The server first: until it has stopped, its audit sequencer may still write checkpoints into the data directory.
after(async () => {
  await server.stop();
  await database.drop();
});

it("runs README's examples in order, each step by the role allowed to take it", async () => {
  const blocks = await readmeBlocks();
  assert.ok(blocks.length >= 3, 'the quick start, the prediction and the new-patient sequence are marked');
  const script = ['set -euo pipefail', ...blocks].join('\n').replaceAll(readmeUrl, server.url);
  assert.ok(!script.includes(':4000'), 'every URL in the blocks is the one replaced');
  await server.app.modelServer.warmUp();
  const { stdout } = await promisify(execFile)('bash', ['-c', script], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: database.dataDir },
    timeout: 120_000,
  });
  const answers = stdout.trim().split('\n').map((line) => JSON.parse(line) as { data?: any; errors?: { extensions: { code: string }; path: string[] }[] });
  const [patients, prediction, careTeam, observations, chart, adminView] = answers;
  assert.equal(answers.length, 6, stdout);
  for (const answer of answers.slice(0, 5)) assert.equal(answer.errors, undefined, JSON.stringify(answer));
  assert.equal(patients!.data.patients.totalCount, 5);
  assert.match(prediction!.data.predict.label, /^(benign|malignant)$/);
  assert.deepEqual(careTeam!.data.addCareTeamMember, [{ clinicianSubject: 'demo-clinician' }]);
  assert.deepEqual(observations!.data.addObservations.map((o: { code: string }) => o.code).sort(), ['mean_radius', 'smoking_status']);
  // Both observations share their time (now), so their order is not defined.
  const byCode = (a: { code: string }, b: { code: string }) => a.code.localeCompare(b.code);
  const { cases: chartCases, ...demographics } = chart!.data.patient;
  assert.deepEqual(demographics, { mrn: 'H-0042', familyName: 'Doe' });
  assert.deepEqual(chartCases.map((episode: { title: string }) => episode.title), ['Breast lump assessment']);
  assert.deepEqual(chartCases[0].observations.sort(byCode), [
    { code: 'mean_radius', value: 14.2, text: null, unit: 'mm' },
    { code: 'smoking_status', value: null, text: 'former', unit: null },
  ]);
  assert.deepEqual(adminView!.data.patient, { mrn: 'H-0042', familyName: 'Doe', cases: null });
  assert.deepEqual(adminView!.errors!.map((error) => [error.extensions.code, error.path.join('.')]), [['FORBIDDEN', 'patient.cases']]);
});
