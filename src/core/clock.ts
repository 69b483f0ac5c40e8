import { performance } from 'node:perf_hooks';

/**
 * The pools' clocks. Per-connection times are kept as whole milliseconds on the monotonic clock
 * (`performance.now()`): small integers, which V8 stores in the object itself, where a wall-clock
 * millisecond count (about 1.7e12) would be a separate boxed number per field, rewritten on every
 * request. Wall time is derived when someone reads it.
 */

let wallOffset = Date.now() - performance.now();

/** Whole milliseconds on the monotonic clock. */
export function monotonicMs(): number {
  return Math.floor(performance.now());
}

/** Wall-clock time (ms since the epoch) of a `monotonicMs()` reading. */
export function wallTimeOf(monotonic: number): number {
  return Math.floor(wallOffset + monotonic);
}

/**
 * Re-reads the offset between the wall clock and the monotonic one, so derived wall times follow
 * a step of the system clock. Pools call it when created and at every health check.
 */
export function refreshWallClock(): void {
  wallOffset = Date.now() - performance.now();
}
