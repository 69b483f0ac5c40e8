/** Upper bounds (ms) of the latency buckets: 1-2.5-5 steps from 50 µs to 60 s, then +Inf. */
export const LATENCY_BUCKETS_MS: readonly number[] = Object.freeze([
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000,
]);

/** Index of the bucket that holds `ms` (the last index is +Inf). Binary search over a fixed array. */
export function bucketIndex(ms: number, bounds: readonly number[] = LATENCY_BUCKETS_MS): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ms <= bounds[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Fixed-memory latency histogram: a count per bucket, a sum and a max. Memory never grows with
 * traffic; quantiles are estimated by linear interpolation inside the bucket, as Prometheus does.
 */
export class LatencyHistogram {
  readonly counts: Float64Array;
  count = 0;
  sum = 0;
  max = 0;

  constructor(readonly bounds: readonly number[] = LATENCY_BUCKETS_MS) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one observation (ms). */
  observe(ms: number): void {
    this.counts[bucketIndex(ms, this.bounds)]++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  /** Records one observation whose bucket index is already known. */
  observeAt(index: number, ms: number): void {
    this.counts[index]++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  /** Adds another histogram with the same bounds into this one. */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i];
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  /** Estimated `q` quantile (0..1) in ms, or 0 with no observations. Never above the observed max. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = q * this.count;
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i];
      if (c === 0) continue;
      if (seen + c >= rank) {
        const lower = i === 0 ? 0 : this.bounds[i - 1];
        const upper = i < this.bounds.length ? this.bounds[i] : this.max;
        const estimate = lower + (upper - lower) * ((rank - seen) / c);
        return Math.min(estimate, this.max);
      }
      seen += c;
    }
    return this.max;
  }

  /** Mean in ms, or 0 with no observations. */
  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }
}
