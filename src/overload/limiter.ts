/**
 * A concurrency limiter: how many units of work may be in flight at once. Adaptive ones move
 * the limit from samples; each sample is one closed window of the `SampleWindow` (average RTT,
 * the most units in flight, whether any was dropped), as Netflix's `WindowedLimit` feeds its
 * delegate.
 */
export interface Limiter {
  /** Units of work that may be in flight now (an integer >= 1). */
  readonly limit: number;
  /**
   * One sample. `rttMs`: the time work took, waiting before its handler included (queue wait,
   * event-loop delay); `inflight`: units in flight (or waiting in the event loop) at the time;
   * `dropped`: some unit failed or timed out.
   */
  onSample(rttMs: number, inflight: number, dropped: boolean): void;
}

/** Clamps `value` into `[min, max]`. */
export function clamp(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, value));
}
