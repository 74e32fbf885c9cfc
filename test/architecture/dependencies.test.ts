import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/*
 * The dependency rule (README "Architecture"): server → domains → access →
 * audit → db, over a base of plain libraries; a file may import its own layer
 * or a lower one, never a higher one. Only the layers that own data access (db,
 * audit, access) and repositories may import the generated Prisma client.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Each top-level folder of src/ and its layer: higher numbers may import lower ones. */
const layers: Record<string, number> = {
  server: 5,
  ...Object.fromEntries(['auth', 'patients', 'cases', 'care-teams', 'consent', 'predictions', 'models', 'audit-events', 'demo', 'fhir'].map((domain) => [domain, 4])),
  access: 3,
  audit: 2,
  db: 1,
  ...Object.fromEntries(['config', 'errors', 'graphql', 'pipeline', 'generated', 'types'].map((base) => [base, 0])),
};

const prismaClient = 'src/generated/prisma/';
const mayHoldPrisma = (file: string) => /^src\/(db|audit|access)\//.test(file) || file.endsWith('.repository.ts');

/** One import: the importing file and the file it names, both relative to the repository root. */
export interface Import {
  from: string;
  to: string;
}

const folderOf = (file: string) => file.split('/')[1]!;

/** What is wrong with a set of imports, one sentence each (none: the rule holds). */
export function violations(imports: Import[]): string[] {
  const found: string[] = [];
  for (const { from, to } of imports) {
    if (!to.startsWith('src/')) continue;
    for (const file of [from, to]) {
      if (layers[folderOf(file)] === undefined) found.push(`${file} is in a folder with no layer: add src/${folderOf(file)} to the layer table`);
    }
    if (to.startsWith(prismaClient) && !mayHoldPrisma(from)) found.push(`${from} imports the generated Prisma client (${to}): go through a repository`);
    const [fromLayer, toLayer] = [layers[folderOf(from)], layers[folderOf(to)]];
    if (fromLayer !== undefined && toLayer !== undefined && toLayer > fromLayer) found.push(`${from} imports ${to}, a higher layer`);
  }
  return [...new Set(found)];
}

/** Every import of every TypeScript file under src/ (generated code aside), type-only and re-exports included. */
function importsOfSources(): Import[] {
  const files = readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.startsWith('generated/'))
    .map((file) => `src/${file.split(path.sep).join('/')}`);
  return files.flatMap((from) =>
    ts
      .preProcessFile(readFileSync(path.join(root, from), 'utf8'), true, true)
      .importedFiles.filter(({ fileName }) => fileName.startsWith('.'))
      .map(({ fileName }) => ({ from, to: path.posix.normalize(path.posix.join(path.posix.dirname(from), fileName)) })),
  );
}

describe('architecture', () => {
  it('keeps the layers pointing one way and the Prisma client in the data-access layers', () => {
    const imports = importsOfSources();
    assert.ok(imports.length > 100, 'the imports of src/ were read');
    assert.deepEqual(violations(imports), []);
  });

  it('names an import that runs back up, a stray Prisma client, and an unplaced folder', () => {
    assert.deepEqual(
      violations([
        { from: 'src/patients/patient.repository.ts', to: 'src/server/context.ts' },
        { from: 'src/access/scope.ts', to: 'src/predictions/prediction.repository.ts' },
        { from: 'src/predictions/model-server.ts', to: 'src/generated/prisma/client.ts' },
        { from: 'src/patients/patient.service.ts', to: 'src/generated/prisma/client.ts' },
        { from: 'src/newthing/thing.ts', to: 'src/db/database.ts' },
      ]),
      [
        'src/patients/patient.repository.ts imports src/server/context.ts, a higher layer',
        'src/access/scope.ts imports src/predictions/prediction.repository.ts, a higher layer',
        'src/predictions/model-server.ts imports the generated Prisma client (src/generated/prisma/client.ts): go through a repository',
        'src/patients/patient.service.ts imports the generated Prisma client (src/generated/prisma/client.ts): go through a repository',
        'src/newthing/thing.ts is in a folder with no layer: add src/newthing to the layer table',
      ],
    );
  });

  it('lets repositories, the data-access layers and lower imports through', () => {
    assert.deepEqual(
      violations([
        { from: 'src/cases/case.repository.ts', to: 'src/generated/prisma/client.ts' },
        { from: 'src/access/scope.ts', to: 'src/generated/prisma/client.ts' },
        { from: 'src/server/context.ts', to: 'src/patients/patient.service.ts' },
        { from: 'src/cases/case.service.ts', to: 'src/patients/patient.service.ts' },
        { from: 'src/access/audit-trail.ts', to: 'src/audit/audit-log.ts' },
      ]),
      [],
    );
  });
});
