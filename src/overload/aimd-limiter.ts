import { clamp, type Limiter } from './limiter';

/** Settings of `AimdLimiter`. */
export interface AimdLimiterOptions {
  initialLimit: number;
  minLimit: number;
  maxLimit: number;
  /** Factor applied to the limit on a drop, in [0.5, 1). */
  backoffRatio: number;
  /** A sample slower than this (ms) counts as a drop. */
  timeout: number;
}

/**
 * `limiter: "aimd"`: additive increase while nothing is dropped, multiplicative decrease on a
 * drop. Arithmetic of Netflix concurrency-limits
 * `concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/AIMDLimit.java`
 * (`_update`): on a drop or `rtt > timeout`, `limit = floor(limit * backoffRatio)`; else, when
 * at least half the limit is in use, `limit + 1`; then clamped to [minLimit, maxLimit].
 */
export class AimdLimiter implements Limiter {
  limit: number;

  constructor(private readonly options: AimdLimiterOptions) {
    this.limit = options.initialLimit;
  }

  onSample(rttMs: number, inflight: number, dropped: boolean): void {
    let next = this.limit;
    if (dropped || rttMs > this.options.timeout) next = Math.floor(next * this.options.backoffRatio);
    else if (inflight * 2 >= next) next += 1;
    this.limit = clamp(next, this.options.minLimit, this.options.maxLimit);
  }
}
