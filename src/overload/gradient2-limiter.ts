import { clamp, type Limiter } from './limiter';

/** Settings of `Gradient2Limiter`. */
export interface Gradient2LimiterOptions {
  initialLimit: number;
  minLimit: number;
  maxLimit: number;
  smoothing: number;
  rttTolerance: number;
  longWindow: number;
  queueSize: number;
}

/** Samples averaged plainly before the exponential average starts (Netflix: 10). */
const WARMUP_SAMPLES = 10;

/**
 * `limiter: "gradient2"`: the limit follows the gradient between a long-term (exponentially
 * averaged) RTT and the current one. Arithmetic of Netflix concurrency-limits
 * `concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/Gradient2Limit.java`
 * (`_update`) with its `measurement/ExpAvgMeasurement.java` (plain mean of the first 10 samples,
 * then factor `2 / (longWindow + 1)`):
 *
 *     longRtt = expAvg(rtt);  if (longRtt / rtt > 2) longRtt *= 0.95   // recover after load
 *     if (inflight < limit / 2) keep                                    // app-limited: no growth
 *     gradient = clamp(rttTolerance x longRtt / rtt, 0.5, 1)
 *     next = limit x gradient + queueSize
 *     limit = clamp(limit x (1 - smoothing) + next x smoothing, minLimit, maxLimit)
 */
export class Gradient2Limiter implements Limiter {
  limit: number;
  private estimate: number;
  private longRtt = 0;
  private longSum = 0;
  private longCount = 0;
  private readonly factor: number;

  constructor(private readonly options: Gradient2LimiterOptions) {
    this.estimate = options.initialLimit;
    this.limit = options.initialLimit;
    this.factor = 2 / (options.longWindow + 1);
  }

  /** The long-term RTT (ms) the current one is compared with. */
  get baselineRtt(): number {
    return this.longRtt;
  }

  /** Drops are not an input of Gradient2 (Netflix's ignores `didDrop` too): the RTT tells. */
  onSample(rttMs: number, inflight: number, _dropped?: boolean): void {
    if (!(rttMs > 0)) return;
    const longRtt = this.addLong(rttMs);
    // After a long overload the baseline may sit far above today's RTT: pull it down faster
    // than the exponential average would.
    if (longRtt / rttMs > 2) this.longRtt *= 0.95;
    if (inflight < this.estimate / 2) return;
    const gradient = clamp((this.options.rttTolerance * longRtt) / rttMs, 0.5, 1);
    const next = this.estimate * gradient + this.options.queueSize;
    this.estimate = clamp(this.estimate * (1 - this.options.smoothing) + next * this.options.smoothing, this.options.minLimit, this.options.maxLimit);
    this.limit = Math.max(1, Math.floor(this.estimate));
  }

  private addLong(rtt: number): number {
    if (this.longCount < WARMUP_SAMPLES) {
      this.longCount++;
      this.longSum += rtt;
      this.longRtt = this.longSum / this.longCount;
    } else {
      this.longRtt = this.longRtt * (1 - this.factor) + rtt * this.factor;
    }
    return this.longRtt;
  }
}
