import assert from 'node:assert/strict';
import { it } from 'node:test';
import { openDatabase } from '../../src/db/database.ts';
import { preparedStatementNames } from '../../src/db/prepared-statements.ts';
import { createTestDatabase } from '../support/test-database.ts';

it('names each distinct statement once, the same way every time, within PostgreSQL’s 63-byte names', () => {
  const name = preparedStatementNames();
  const first = name({ sql: 'SELECT 1' });
  assert.ok(first);
  assert.equal(name({ sql: 'SELECT 1' }), first);
  assert.notEqual(name({ sql: 'SELECT 2' }), first);
  assert.equal(preparedStatementNames()({ sql: 'SELECT 1' }), first, 'every process (and replica) names a statement alike');
  assert.ok(Buffer.byteLength(first) <= 63, first);
});

it('leaves statements unnamed (unprepared) past the limit, so connections hold a bounded number', () => {
  const name = preparedStatementNames(2);
  const [a, b] = [name({ sql: 'SELECT 1' }), name({ sql: 'SELECT 2' })];
  assert.ok(a && b);
  assert.equal(name({ sql: 'SELECT 3' }), undefined);
  assert.equal(name({ sql: 'SELECT 1' }), a, 'statements named before the limit keep their names');
});

const onPostgres = Boolean(process.env.DATABASE_URL);

it('prepares statements on PostgreSQL connections, and not when DATABASE_PREPARED_STATEMENTS is off', { skip: !onPostgres && 'needs DATABASE_URL: PGlite has no connections to prepare on' }, async () => {
  const database = await createTestDatabase();
  try {
    for (const preparedStatements of [true, false]) {
      const db = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, poolSize: 1, preparedStatements });
      try {
        // One connection: the statement asking sees every statement prepared on it, itself included.
        await db.prisma.patient.findMany({ take: 1 });
        const prepared = await db.prisma.$queryRaw<{ name: string; statement: string }[]>`SELECT name, statement FROM pg_prepared_statements`;
        if (preparedStatements) {
          assert.ok(prepared.some(({ statement }) => statement.includes('"Patient"')), JSON.stringify(prepared));
          assert.ok(prepared.every(({ name }) => name.startsWith('clinigraph_')));
        } else {
          assert.deepEqual(prepared, []);
        }
      } finally {
        await db.close();
      }
    }
  } finally {
    await database.drop();
  }
});
