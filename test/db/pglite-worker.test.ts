import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { messages } from '@electric-sql/pglite';
import { embeddedDataPath } from '../../src/db/database.ts';
import { openPGliteInWorker } from '../../src/db/pglite-worker.ts';
import { createTestDatabase } from '../support/test-database.ts';

const database = await createTestDatabase({ embedded: true });
const dir = embeddedDataPath(database.dataDir);
const pglite = await openPGliteInWorker(dir);
after(async () => {
  await pglite.close();
  await database.drop();
});

describe('the embedded database in a worker thread', () => {
  it('answers with PGlite’s types: integers, big integers (as numbers, PGlite’s default), arrays, bytes, times, JSON', async () => {
    const { rows } = await pglite.query<Record<string, unknown>>(
      `SELECT $1::int AS n, 12345678901234::bigint AS big, ARRAY[1, 2]::int[] AS list, '\\x0102'::bytea AS bytes,
              '2026-01-02T03:04:05Z'::timestamptz AS at, '{"a": [1]}'::jsonb AS doc`,
      [7],
    );
    assert.deepEqual(rows[0], { n: 7, big: 12345678901234, list: [1, 2], bytes: new Uint8Array([1, 2]), at: new Date('2026-01-02T03:04:05Z'), doc: { a: [1] } });
  });

  it('commits a transaction whole and rolls a failed one back', async () => {
    await pglite.exec('CREATE TABLE worker_rows (n int PRIMARY KEY)');
    await pglite.transaction(async (tx) => {
      await tx.query('INSERT INTO worker_rows VALUES (1)');
      await tx.query('INSERT INTO worker_rows VALUES (2)');
    });
    await assert.rejects(
      pglite.transaction(async (tx) => {
        await tx.query('INSERT INTO worker_rows VALUES (3)');
        await tx.query('INSERT INTO worker_rows VALUES (1)');
      }),
      /duplicate key/,
    );
    const { rows } = await pglite.query<{ n: number }>('SELECT n FROM worker_rows ORDER BY n');
    assert.deepEqual(rows.map((row) => row.n), [1, 2]);
  });

  it('passes a database error on with its SQLSTATE code, and goes on with the next statement', async () => {
    const failing = pglite.query('SELECT * FROM no_such_table');
    const next = pglite.query<{ one: number }>('SELECT 1 AS one');
    await assert.rejects(failing, (error: messages.DatabaseError) => error.code === '42P01');
    assert.equal((await next).rows[0]!.one, 1);
  });

  it('keeps what was committed when closed and opened again, and refuses statements once closed', async () => {
    await pglite.query('INSERT INTO worker_rows VALUES (10)');
    await pglite.close();
    await assert.rejects(pglite.query('SELECT 1'), /closed/);
    const again = await openPGliteInWorker(dir);
    try {
      const { rows } = await again.query<{ n: number }>('SELECT count(*)::int AS n FROM worker_rows');
      assert.equal(rows[0]!.n, 3);
    } finally {
      await again.close();
    }
  });
});
