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
  // The HTTP interfaces: GraphQL (Apollo, per-request contexts) and FHIR, which serves the same per-request services.
  server: 5,
  fhir: 5,
  ...Object.fromEntries(['auth', 'patients', 'cases', 'care-teams', 'consent', 'predictions', 'models', 'audit-events', 'demo'].map((domain) => [domain, 4])),
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

/** Calls that check a patient, note a read or open an audited write: outside src/access/ they are a hand-placed copy of the owned-record store. */
const storeInternals = /\b(requirePatients|auditedTransaction|breakGlassAmong)\(|\btrail\.(read|within)\(/;

/** Files outside the access layer that place patient checks, read records or audited writes by hand. */
export function handPlacedAccess(sources: { file: string; text: string }[]): string[] {
  return sources.filter(({ file, text }) => !file.startsWith('src/access/') && storeInternals.test(text)).map(({ file }) => file);
}

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

/** Every TypeScript file under src/ (generated code aside) with its text. */
function sources(): { file: string; text: string }[] {
  return readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.startsWith('generated/'))
    .map((file) => `src/${file.split(path.sep).join('/')}`)
    .map((file) => ({ file, text: readFileSync(path.join(root, file), 'utf8') }));
}

/** Every import of every TypeScript file under src/, type-only and re-exports included. */
function importsOfSources(): Import[] {
  return sources().flatMap(({ file: from, text }) =>
    ts
      .preProcessFile(text, true, true)
      .importedFiles.filter(({ fileName }) => fileName.startsWith('.'))
      .map(({ fileName }) => ({ from, to: path.posix.normalize(path.posix.join(path.posix.dirname(from), fileName)) })),
  );
}

/**
 * What a file loads when it runs: the source files and packages its imports
 * reach, following relative imports. `import type` and `export type` are
 * erased before running (verbatimModuleSyntax), so they load nothing and are
 * not followed; an import of type names alone still loads its module and is.
 */
export function runtimeImportClosure(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = ts.createSourceFile(file, readFileSync(path.join(root, file), 'utf8'), ts.ScriptTarget.Latest);
    for (const statement of source.statements) {
      const typeOnly = ts.isImportDeclaration(statement) ? statement.importClause?.isTypeOnly : ts.isExportDeclaration(statement) && statement.isTypeOnly;
      const specifier = (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) && statement.moduleSpecifier;
      if (typeOnly || !specifier || !ts.isStringLiteral(specifier)) continue;
      const name = specifier.text;
      if (name.startsWith('.')) visit(path.posix.normalize(path.posix.join(path.posix.dirname(file), name)));
      else packages.add(name);
    }
  };
  visit(entry);
  return { files: [...files].sort(), packages: [...packages].sort() };
}

/** Packages the offline audit verifiers may load: Node's own, and the two drivers that read the entries. */
const verifierPackages = /^(node:.*|pg|@electric-sql\/pglite(\/.*)?)$/;

/** Why a verifier's closure is not standalone, one sentence each (none: it is). */
export function verifierDependencyViolations(closure: { files: string[]; packages: string[] }): string[] {
  return [
    ...closure.files.filter((file) => file.startsWith(prismaClient)).map((file) => `loads the generated Prisma client (${file})`),
    ...closure.packages.filter((name) => !verifierPackages.test(name)).map((name) => `loads the package ${name}`),
  ];
}

describe('architecture', () => {
  it('keeps the layers pointing one way and the Prisma client in the data-access layers', () => {
    const imports = importsOfSources();
    assert.ok(imports.length > 100, 'the imports of src/ were read');
    assert.deepEqual(violations(imports), []);
  });

  it('keeps the offline audit verifiers standalone: node:crypto, plain pg and PGlite, no Prisma', () => {
    const closure = runtimeImportClosure('scripts/audit-verify.ts');
    assert.ok(closure.files.includes('src/audit/log-verification.ts') && closure.packages.includes('pg'), 'the closure was read');
    assert.deepEqual(verifierDependencyViolations(closure), []);
    const proofs = runtimeImportClosure('scripts/audit-verify-proof.ts');
    assert.ok(proofs.files.includes('src/audit/proof-verification.ts'), 'the closure was read');
    assert.deepEqual(verifierDependencyViolations(proofs), []);
    assert.deepEqual(proofs.packages.filter((name) => !name.startsWith('node:')), [], 'the proof verifier needs no driver either');
    // The walk can fail: the server's database module loads Prisma's client and adapters.
    const server = verifierDependencyViolations(runtimeImportClosure('src/db/database.ts'));
    for (const violation of ['loads the generated Prisma client (src/generated/prisma/client.ts)', 'loads the package @prisma/adapter-pg', 'loads the package pglite-prisma-adapter']) {
      assert.ok(server.includes(violation), violation);
    }
  });

  it('keeps patient checks, read records and audited writes in the owned-record store', () => {
    assert.deepEqual(handPlacedAccess(sources()), []);
    assert.deepEqual(
      handPlacedAccess([
        { file: 'src/cases/case.repository.ts', text: 'const breakGlass = await this.scope.access.requirePatients(permission, action, [id]);' },
        { file: 'src/consent/consent.repository.ts', text: 'return auditedTransaction(this.scope, write, describe);' },
        { file: 'src/patients/patient.repository.ts', text: "this.scope.trail.read('patient.read', 'Patient', items, breakGlass);" },
        { file: 'src/access/owned-record-store.ts', text: 'return auditedTransaction(this.scope, write, describe);' },
      ]),
      ['src/cases/case.repository.ts', 'src/consent/consent.repository.ts', 'src/patients/patient.repository.ts'],
    );
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
