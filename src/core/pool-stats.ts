import { performance } from 'node:perf_hooks';
import { LatencyHistogram, bucketIndex, LATENCY_BUCKETS_MS } from './latency-histogram';
import type { PoolMetricsSnapshot } from './pool-types';
import { SlidingWindow } from './sliding-window';

/** Upper bounds (ms) of the connection-duration buckets: 10 ms to 1 h. */
export const CONNECTION_DURATION_BUCKETS_MS: readonly number[] = Object.freeze([
  10, 50, 100, 500, 1000, 5000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000,
]);

/** Upper bounds (ms) of the stream-duration buckets (long-lived work such as gRPC streaming calls): as for connections. */
export const STREAM_DURATION_BUCKETS_MS: readonly number[] = CONNECTION_DURATION_BUCKETS_MS;

/** The sliding window's clock: monotonic, so a step of the system clock cannot expire or revive slots. */
const monotonicNow = (): number => performance.now();

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Bytes read and written, summed over connections (a pool's protocol adds each connection's). */
export interface ByteTotals {
  bytesIn: number;
  bytesOut: number;
}

/** What a walk over the live connections adds to a metrics snapshot (read on demand, never kept up to date per request). */
export interface LiveConnectionFigures extends ByteTotals {
  active: number;
  idle: number;
  inFlight: number;
  streamsInFlight: number;
}

/**
 * Every figure a pool counts: totals by kind and reason, the sliding window (rates, error rate,
 * latency quantiles for health), and the lifetime histograms of request latency, connection
 * lifetime and stream duration. Memory is fixed: counters, maps keyed by a closed set of labels,
 * histograms with fixed buckets and a window of fixed slots.
 */
export class PoolStats {
  admittedTotal = 0;
  requestsTotal = 0;
  requestsFailed = 0;
  streamsTotal = 0;
  streamsFailed = 0;
  rejectedTotal = 0;
  readonly rejectedByReason = new Map<string, number>();
  readonly timeoutsByKind = new Map<string, number>();
  errorsTotal = 0;
  readonly errorsByType = new Map<string, number>();
  /** Bytes of connections already closed (live ones are read on demand); the pool adds each closing connection's. */
  readonly closedBytes: ByteTotals = { bytesIn: 0, bytesOut: 0 };
  /** Latency of requests whose window slot has been reused; with the live slots, every request since the pool was created. */
  private readonly retiredLatency = new LatencyHistogram(LATENCY_BUCKETS_MS);
  /** Lifetime of closed connections (ms). */
  readonly connectionDurations = new LatencyHistogram(CONNECTION_DURATION_BUCKETS_MS);
  /** Duration of finished streams (ms); never part of request latency or health. */
  readonly streamDurations = new LatencyHistogram(STREAM_DURATION_BUCKETS_MS);
  /** @internal The sliding window (health and rates). */
  window: SlidingWindow;

  constructor(windowMs: number) {
    this.window = new SlidingWindow(windowMs, monotonicNow, this.retiredLatency);
  }

  /** Request latency since the pool was created: a copy, from the retired slots and the live window (a scrape reads it; requests never do). */
  requestLatency(): LatencyHistogram {
    const all = new LatencyHistogram(LATENCY_BUCKETS_MS);
    all.merge(this.retiredLatency);
    this.window.addLiveLatency(all);
    return all;
  }

  /** A new sliding window of `windowMs`; what the old one held still counts in the lifetime latency. */
  replaceWindow(windowMs: number): void {
    this.window.retire();
    this.window = new SlidingWindow(windowMs, monotonicNow, this.retiredLatency);
  }

  /** One finished unit of work of `ms`; `now` is `performance.now()`, the window's clock. */
  observeWork(ms: number, failed: boolean, now: number): void {
    // One histogram per request: the window's slot, folded into the lifetime one when reused.
    this.window.recordRequest(bucketIndex(ms), ms, failed, now);
    this.requestsTotal++;
    if (failed) this.requestsFailed++;
  }

  /** One finished stream of `ms`. */
  observeStream(ms: number, failed: boolean): void {
    this.streamDurations.observe(ms);
    this.streamsTotal++;
    if (failed) this.streamsFailed++;
  }

  /** One connection admitted. */
  connectionAdmitted(): void {
    this.admittedTotal++;
    this.window.recordConnection();
  }


  countRejection(reason: string): void {
    this.rejectedTotal++;
    increment(this.rejectedByReason, reason);
  }

  countTimeout(kind: string): void {
    increment(this.timeoutsByKind, kind);
  }

  countError(type: string): void {
    this.errorsTotal++;
    increment(this.errorsByType, type);
  }

  /** A metrics snapshot from these counters and the live figures a walk over the connections gave. */
  snapshot(protocol: string, live: LiveConnectionFigures, maxConnections: number, admissionLimit: number): PoolMetricsSnapshot {
    const w = this.window.snapshot();
    const streams = this.streamDurations;
    return {
      protocol,
      active: live.active,
      idle: live.idle,
      maxConnections,
      utilization: live.active / Math.max(1, admissionLimit),
      totalConnections: this.admittedTotal,
      rejected: { total: this.rejectedTotal, byReason: Object.fromEntries(this.rejectedByReason) },
      timeouts: Object.fromEntries(this.timeoutsByKind),
      errors: { total: this.errorsTotal, byType: Object.fromEntries(this.errorsByType) },
      connectionsPerSecond: w.connectionsPerSecond,
      requests: {
        total: this.requestsTotal,
        failed: this.requestsFailed,
        inFlight: live.inFlight,
        errorRate: w.requests > 0 ? w.errors / w.requests : 0,
        windowTotal: w.requests,
      },
      latency: {
        count: w.latency.count,
        avgMs: w.latency.mean(),
        p50Ms: w.latency.quantile(0.5),
        p95Ms: w.latency.quantile(0.95),
        p99Ms: w.latency.quantile(0.99),
        maxMs: w.latency.max,
      },
      streams: {
        total: this.streamsTotal,
        failed: this.streamsFailed,
        inFlight: live.streamsInFlight,
        duration: { count: streams.count, avgMs: streams.mean(), p50Ms: streams.quantile(0.5), p95Ms: streams.quantile(0.95), p99Ms: streams.quantile(0.99), maxMs: streams.max },
      },
      bytes: { in: live.bytesIn, out: live.bytesOut },
      windowMs: this.window.windowMs,
    };
  }
}
