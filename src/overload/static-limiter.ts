import type { Limiter } from './limiter';

/** `limiter: "static"`: a fixed number of units in flight (Netflix `FixedLimit`); samples change nothing. */
export class StaticLimiter implements Limiter {
  constructor(readonly limit: number) {}

  onSample(): void {
    // A fixed limit learns nothing from samples.
  }
}
