import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { PGlite } from '@electric-sql/pglite';
import { createPGlite } from '../../src/db/database.ts';
import { pgliteTakingTurns } from '../../src/db/pglite-turns.ts';

const pglite = createPGlite();
await pglite.waitReady;
after(() => pglite.close());

/** A statement that keeps the engine busy for a few milliseconds. */
const busy = 'SELECT count(*)::int AS n FROM generate_series(1, 50000)';

/** Runs `count` statements at once; returns the order they finished in and how many event-loop turns passed meanwhile. */
async function burst(db: PGlite, count: number): Promise<{ finished: number[]; turns: number }> {
  let turns = 0;
  let running = true;
  const tick = () => {
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  // Counted from the first statement's end: the statements are queued by then, so only their hand-over is measured.
  let firstDone = 0;
  const finished: number[] = [];
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      db.query(busy).then(() => {
        if (finished.length === 0) firstDone = turns;
        finished.push(i);
      }),
    ),
  );
  running = false;
  return { finished, turns: turns - firstDone };
}

describe('PGlite statements taking turns with the event loop', () => {
  it('lets the event loop run between queued statements, which PGlite alone does not, and keeps their order', async () => {
    const alone = await burst(pglite, 10);
    assert.ok(alone.turns <= 1, `PGlite alone ran its queue without the event loop (${alone.turns} turns): the starvation this module exists for`);
    const taking = await burst(pgliteTakingTurns(pglite), 10);
    assert.ok(taking.turns >= 9, `one turn of the event loop between statements, got ${taking.turns}`);
    assert.deepEqual(taking.finished, [...Array(10).keys()]);
  });

  it('runs a transaction whole, its own statements straight away, while others wait their turn', async () => {
    const db = pgliteTakingTurns(pglite);
    await db.exec('CREATE TABLE turns (n int)');
    const order: string[] = [];
    const transaction = db.transaction(async (tx) => {
      await tx.query('INSERT INTO turns VALUES (1)');
      await new Promise((resolve) => setTimeout(resolve, 20));
      await tx.query('INSERT INTO turns VALUES (2)');
      order.push('transaction');
    });
    const reader = db.query<{ n: number }>('SELECT count(*)::int AS n FROM turns').then(({ rows }) => {
      order.push('reader');
      return rows[0]!.n;
    });
    await transaction;
    assert.equal(await reader, 2, 'the statement queued behind the transaction sees all of it');
    assert.deepEqual(order, ['transaction', 'reader']);
  });

  it('passes a failing statement’s error to its caller and goes on with the next', async () => {
    const db = pgliteTakingTurns(pglite);
    const failing = db.query('SELECT * FROM no_such_table');
    const next = db.query<{ one: number }>('SELECT 1 AS one');
    await assert.rejects(failing, /no_such_table/);
    assert.equal((await next).rows[0]!.one, 1);
  });
});
