import { clamp, type Limiter } from './limiter';

/** Settings of `VegasLimiter`. */
export interface VegasLimiterOptions {
  initialLimit: number;
  minLimit: number;
  maxLimit: number;
  smoothing: number;
  probeMultiplier: number;
  /** Fixed alpha; default `3 x log10(limit)`. */
  alpha?: number;
  /** Fixed beta; default `6 x log10(limit)`. */
  beta?: number;
  /** Uniform random number in [0, 1); injectable so tests are deterministic. */
  random?: () => number;
}

/** `max(1, floor(log10(n)))`: Netflix `Log10RootIntFunction`. */
function log10Root(n: number): number {
  return Math.max(1, Math.floor(Math.log10(Math.max(1, n))));
}

/**
 * `limiter: "vegas"`: TCP Vegas. The queue in front of the work is estimated as
 * `limit x (1 - rttNoLoad / rtt)`; the limit grows while it is small and falls when it is large.
 * Arithmetic of Netflix concurrency-limits
 * `concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/VegasLimit.java`
 * (`_update`, `updateEstimatedLimit`): the no-load RTT is the lowest RTT seen, re-probed every
 * `jitter x probeMultiplier x limit` samples (jitter in [0.5, 1)); with `q = ceil(limit x (1 -
 * rttNoLoad / rtt))`: a drop decreases by `log10(limit)`; under half the limit in use nothing
 * moves; `q <= log10(limit)` adds beta; `q < alpha` adds `log10(limit)`; `q > beta` subtracts
 * `log10(limit)`; then clamped and smoothed. unipool also clamps at `minLimit` (Netflix: 1).
 */
export class VegasLimiter implements Limiter {
  limit: number;
  private estimate: number;
  private rttNoLoad = 0;
  private probeCount = 0;
  private probeJitter = 0;
  private readonly random: () => number;

  constructor(private readonly options: VegasLimiterOptions) {
    this.estimate = options.initialLimit;
    this.limit = options.initialLimit;
    this.random = options.random ?? Math.random;
    this.resetProbeJitter();
  }

  /** The no-load RTT (ms) the limiter currently compares against; 0 before the first sample. */
  get baselineRtt(): number {
    return this.rttNoLoad;
  }

  onSample(rttMs: number, inflight: number, dropped: boolean): void {
    if (!(rttMs > 0)) return;
    this.probeCount++;
    if (this.probeJitter * this.options.probeMultiplier * this.estimate <= this.probeCount) {
      this.resetProbeJitter();
      this.probeCount = 0;
      this.rttNoLoad = rttMs;
      return;
    }
    if (this.rttNoLoad === 0 || rttMs < this.rttNoLoad) {
      this.rttNoLoad = rttMs;
      return;
    }
    this.update(rttMs, inflight, dropped);
  }

  private update(rtt: number, inflight: number, dropped: boolean): void {
    const estimate = this.estimate;
    const current = Math.floor(estimate);
    const queue = Math.ceil(estimate * (1 - this.rttNoLoad / rtt));
    const step = log10Root(current);
    let next: number;
    if (dropped) {
      next = estimate - step;
    } else if (inflight * 2 < estimate) {
      return;
    } else {
      const alpha = this.options.alpha ?? 3 * step;
      const beta = this.options.beta ?? 6 * step;
      if (queue <= step) next = estimate + beta;
      else if (queue < alpha) next = estimate + step;
      else if (queue > beta) next = estimate - step;
      else return;
    }
    next = clamp(next, this.options.minLimit, this.options.maxLimit);
    this.estimate = (1 - this.options.smoothing) * estimate + this.options.smoothing * next;
    this.limit = Math.max(1, Math.floor(this.estimate));
  }

  private resetProbeJitter(): void {
    this.probeJitter = 0.5 + this.random() * 0.5;
  }
}
