import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { DutyCycle } from '../../src/fhir/duty-cycle.ts';

/** A step that keeps the CPU for `ms` milliseconds (wall time is what the duty cycle counts). */
const busyFor = (ms: number) => async () => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('duty cycle of background work', () => {
  it('rests the rest of the period once the budget is spent while requests come in, runs on within it, and runs unpaced on an idle server', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let idleMs = 0;
      const cycle = new DutyCycle({ workMs: 50, periodMs: 500 }, { idleMs: () => idleMs });
      // Within the budget: the next step may start at once.
      await cycle.step(async () => {});

      let rested = false;
      const step = cycle.step(busyFor(60)).then(() => (rested = true));
      await nextTurn();
      // 60 ms of work at 50 of every 500 ms: at least 540 ms of rest.
      mock.timers.tick(539);
      await nextTurn();
      assert.equal(rested, false, 'the work went on before its rest was over');
      mock.timers.tick(60_000);
      await step;

      idleMs = Infinity;
      let ran = false;
      const idle = cycle.step(busyFor(60)).then(() => (ran = true));
      await nextTurn();
      await nextTurn();
      assert.equal(ran, true, 'an idle server made the work rest');
      await idle;
    } finally {
      mock.timers.reset();
    }
  });
});
