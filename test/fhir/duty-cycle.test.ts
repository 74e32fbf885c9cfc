import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { DutyCycle } from '../../src/fhir/duty-cycle.ts';

/** A step that keeps the CPU for `ms` milliseconds (wall time is what the duty cycle counts). */
const busyFor = (ms: number) => async () => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** Interactive requests the test starts and finishes by hand. */
function requestsByHand() {
  let inFlight = 0;
  let waiting: (() => void)[] = [];
  return {
    idleMs: () => (inFlight > 0 ? 0 : 1),
    noneInFlight: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))),
    start: () => void inFlight++,
    finish: () => {
      if (--inFlight > 0) return;
      for (const resolve of waiting) resolve();
      waiting = [];
    },
  };
}

describe('duty cycle of background work', () => {
  it('rests the rest of the period once the budget is spent while requests come in, runs on within it, and runs unpaced on an idle server', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      // A request finished a millisecond ago: requests come in, none is in flight.
      let idleMs = 1;
      const cycle = new DutyCycle({ workMs: 50, periodMs: 500 }, { idleMs: () => idleMs, noneInFlight: async () => {} });
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

  it('starts a step only once no interactive request is in flight, and after a period at the latest under requests that never pause', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const requests = requestsByHand();
      const cycle = new DutyCycle({ workMs: 50, periodMs: 500 }, requests);
      requests.start();
      let started = false;
      const step = cycle.step(async () => void (started = true));
      await nextTurn();
      mock.timers.tick(499);
      await nextTurn();
      assert.equal(started, false, 'the step started while a request was in flight');
      requests.finish();
      await step;
      assert.equal(started, true);

      // A request always in flight: the work still advances, a step a period.
      requests.start();
      let steps = 0;
      const work = (async () => {
        for (let i = 0; i < 3; i++) await cycle.step(async () => void steps++);
      })();
      for (let ticks = 0; steps < 3 && ticks < 30; ticks++) {
        await nextTurn();
        await nextTurn();
        mock.timers.tick(500);
      }
      assert.equal(steps, 3, 'the work stopped while a request stayed in flight');
      await work;
    } finally {
      mock.timers.reset();
    }
  });
});
