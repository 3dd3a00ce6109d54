/** The throttle that keeps live views updating while metrics stream (a debounce starves). */
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { debounce, throttle } from '../../src/extension/timing';

test('a throttle fires while events keep coming (once per interval, and after the last); a debounce does not', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  try {
    let t = 0,
      d = 0;
    const th = throttle(() => t++, 1000),
      de = debounce(() => d++, 1000);
    // An event every 200 ms for 5 s: metrics streaming from a run.
    for (let i = 0; i < 25; i++) {
      th();
      de();
      mock.timers.tick(200);
    }
    assert.equal(d, 0, 'the debounce never fired while events streamed');
    assert.ok(t >= 5 && t <= 6, `throttle fired ${t} times in 5 s`);
    mock.timers.tick(1000);
    assert.equal(d, 1);
    const before = t;
    mock.timers.tick(2000);
    assert.equal(t, before, 'no firing without events');
  } finally {
    mock.timers.reset();
  }
});
