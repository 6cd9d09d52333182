/** Time as a dependency: schedules, retention and expiry read it here, so tests can move it. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that stands still until moved: for tests of windows, expiry and retention. */
export function manualClock(start: number): Clock & { advance(ms: number): void; set(ms: number): void } {
  let at = start;
  return {
    now: () => at,
    advance(ms) {
      at += ms;
    },
    set(ms) {
      at = ms;
    },
  };
}
