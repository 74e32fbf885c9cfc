import assert from 'node:assert/strict';
import { it } from 'node:test';
import { preparedStatementNames } from '../../src/db/prepared-statements.ts';

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
