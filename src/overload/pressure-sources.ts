import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';

/** Where the pressure monitor reads its signals; each read covers the time since the previous one. Injectable for tests. */
export interface PressureSources {
  /** Begins measuring (called once before the first read). */
  start(): void;
  /** Event-loop delay (ms) since the last read: p99 of `perf_hooks.monitorEventLoopDelay` (its sampling interval included). */
  eventLoopDelayMs(): number;
  /** Event-loop utilisation (0..1) since the last read: `performance.eventLoopUtilization`. */
  eventLoopUtilization(): number;
  /** V8 heap used (bytes). */
  heapUsedBytes(): number;
  /** Resident set size (bytes). */
  rssBytes(): number;
  /** Stops measuring; nothing of it stays open. */
  stop(): void;
  /** Sampling interval (ms) included in every `eventLoopDelayMs()` read (see `delayBeyondResolutionMs`); absent: none. */
  readonly resolutionMs?: number;
}

/** Resolution (ms) of the event-loop delay histogram (fastify's under-pressure uses 10 ms as well). */
export const EVENT_LOOP_DELAY_RESOLUTION_MS = 10;

/**
 * `monitorEventLoopDelay` records the time between its timer's runs, which is at least its
 * resolution: an idle loop reads 10-15 ms at 10 ms resolution. The delay is what lies beyond
 * it (fastify's under-pressure subtracts it too), so an idle loop reads about 0 and a 30 ms
 * block about 30 ms. The admission controller counts this and `maxEventLoopDelay` compares it;
 * the snapshot and the metrics keep the recorded p99 (as prom-client's `nodejs_eventloop_lag_p99_seconds`).
 */
export function delayBeyondResolutionMs(recordedMs: number, resolutionMs = EVENT_LOOP_DELAY_RESOLUTION_MS): number {
  return recordedMs > resolutionMs ? recordedMs - resolutionMs : 0;
}

/** The process's own signals, from `node:perf_hooks` and `process.memoryUsage`. */
export class ProcessPressureSources implements PressureSources {
  readonly resolutionMs = EVENT_LOOP_DELAY_RESOLUTION_MS;
  private histogram: IntervalHistogram | undefined;
  private lastElu: EventLoopUtilization | undefined;

  start(): void {
    this.histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_DELAY_RESOLUTION_MS });
    this.histogram.enable();
    this.lastElu = performance.eventLoopUtilization();
  }

  eventLoopDelayMs(): number {
    const histogram = this.histogram;
    if (!histogram || histogram.count === 0) return 0;
    const p99 = histogram.percentile(99) / 1e6;
    histogram.reset();
    return p99;
  }

  eventLoopUtilization(): number {
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, this.lastElu);
    this.lastElu = now;
    return delta.utilization;
  }

  heapUsedBytes(): number {
    return process.memoryUsage().heapUsed;
  }

  rssBytes(): number {
    return process.memoryUsage.rss();
  }

  stop(): void {
    this.histogram?.disable();
    this.histogram = undefined;
  }
}
