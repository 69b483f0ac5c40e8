/** Upper bounds (ms) of the latency buckets: 1-2.5-5 steps from 50 µs to 60 s, then +Inf. */
export const LATENCY_BUCKETS_MS: readonly number[] = Object.freeze([
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000,
]);

/**
 * The bounds as the searches read them. A frozen array's elements are read through V8's generic
 * keyed load even in optimized code (26-28 ns per search against 12-14 for a typed array or a
 * plain array, node 20); the exported arrays stay frozen for everyone else.
 */
const LATENCY_SEARCH = Float64Array.from(LATENCY_BUCKETS_MS);

/** Index of the bucket that holds `ms` (the last index is +Inf). Binary search over a fixed array. */
export function bucketIndex(ms: number, bounds: ArrayLike<number> = LATENCY_SEARCH): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ms <= bounds[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// Layout of a histogram's one typed array: count, sum and max, then one count per bucket.
const COUNT = 0;
const SUM = 1;
const MAX = 2;
const BUCKETS = 3;

/**
 * Fixed-memory latency histogram: a count per bucket, a sum and a max. Memory never grows with
 * traffic; quantiles are estimated by linear interpolation inside the bucket, as Prometheus does.
 * Every figure lives in one typed array (count, sum and max next to the low buckets), so an
 * observation writes a cache line or two of one array and no boxed number.
 */
export class LatencyHistogram {
  private readonly data: Float64Array;
  /** The count of each bucket (the last one is +Inf); a view of the histogram's own memory. */
  readonly counts: Float64Array;

  /** The bucket of the last `observe` (tried first by the next). */
  private lastBucket = 0;

  /** `bounds` as `observe` searches them (see `LATENCY_SEARCH`). */
  private readonly search: Float64Array;

  constructor(readonly bounds: readonly number[] = LATENCY_BUCKETS_MS) {
    this.data = new Float64Array(BUCKETS + bounds.length + 1);
    this.search = bounds === LATENCY_BUCKETS_MS ? LATENCY_SEARCH : Float64Array.from(bounds);
    this.counts = this.data.subarray(BUCKETS);
  }

  /** Number of observations. */
  get count(): number {
    return this.data[COUNT];
  }

  /** Sum of the observations (ms). */
  get sum(): number {
    return this.data[SUM];
  }

  /** Largest observation (ms), 0 with none. */
  get max(): number {
    return this.data[MAX];
  }

  /**
   * Records one observation (ms). Consecutive observations often fall in the same bucket (a
   * drain records every connection it closes, oldest first and all at the same instant, so their
   * lifetimes fall bucket by bucket): the last one's bucket is tried before the binary search.
   * A drain runs this in code V8 has not optimized yet, where the search's every step costs tens
   * of instructions.
   */
  observe(ms: number): void {
    const bounds = this.search;
    const n = bounds.length;
    let i = this.lastBucket;
    if (i < n ? ms > bounds[i] || (i > 0 && ms <= bounds[i - 1]) : ms <= bounds[n - 1]) {
      i = bucketIndex(ms, bounds);
      this.lastBucket = i;
    }
    const d = this.data;
    d[BUCKETS + i]++;
    d[COUNT]++;
    d[SUM] += ms;
    if (ms > d[MAX]) d[MAX] = ms;
  }

  /** Records one observation whose bucket index is already known. */
  observeAt(index: number, ms: number): void {
    const d = this.data;
    d[BUCKETS + index]++;
    d[COUNT]++;
    d[SUM] += ms;
    if (ms > d[MAX]) d[MAX] = ms;
  }

  reset(): void {
    this.data.fill(0);
  }

  /** Adds another histogram with the same bounds into this one. */
  merge(other: LatencyHistogram): void {
    const d = this.data;
    const o = other.data;
    for (let i = BUCKETS; i < d.length; i++) d[i] += o[i];
    d[COUNT] += o[COUNT];
    d[SUM] += o[SUM];
    if (o[MAX] > d[MAX]) d[MAX] = o[MAX];
  }

  /** Estimated `q` quantile (0..1) in ms, or 0 with no observations. Never above the observed max. */
  quantile(q: number): number {
    const count = this.count;
    const max = this.max;
    if (count === 0) return 0;
    const rank = q * count;
    let seen = 0;
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i];
      if (c === 0) continue;
      if (seen + c >= rank) {
        const lower = i === 0 ? 0 : this.bounds[i - 1];
        const upper = i < this.bounds.length ? this.bounds[i] : max;
        const estimate = lower + (upper - lower) * ((rank - seen) / c);
        return Math.min(estimate, max);
      }
      seen += c;
    }
    return max;
  }

  /** Mean in ms, or 0 with no observations. */
  mean(): number {
    const count = this.count;
    return count === 0 ? 0 : this.sum / count;
  }
}
