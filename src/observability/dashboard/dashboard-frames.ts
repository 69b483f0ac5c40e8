import { SHUTDOWN_PHASES, type PhaseResult } from '../../lifecycle/shutdown-orchestrator';
import type { KnownLabelValues } from '../../core/pool-types';
import type { MetricsSource } from '../prometheus-collector';
import { buildStatusReport, type PoolStatus, type StatusReport } from '../status-report';

/** Per-second rates the dashboard derives from two consecutive readings of the same counters. */
export interface PoolRates {
  /**
   * Change of `metrics.requests.total` per second since the previous frame; `null` when there is no
   * recent previous reading (the first frame, the first after more than two intervals without a
   * frame) or the counter went back (reset).
   */
  requestsPerSecond: number | null;
  /** Change of `metrics.requests.failed` per second since the previous frame; `null` as for `requestsPerSecond`. */
  failedPerSecond: number | null;
}

/** One pool in a frame: what `/status` reports of it (settings left out), plus rates and the label values known in advance. */
export interface PoolFrame extends Omit<PoolStatus, 'config'> {
  rates: PoolRates;
  /** Refusal reasons, timeout kinds and error types this pool can produce (shown at 0 until they happen). */
  known: KnownLabelValues;
  /** Cluster primary: the worker whose pool this is (as in the primary's `/status`). */
  worker?: number;
}

/** The shutdown as it runs: every phase in order, those done with their duration, and the one under way. */
export interface ShutdownFrame {
  phases: readonly string[];
  done: PhaseResult[];
  /** The phase under way while the application stops. */
  running?: string;
}

/**
 * One worker process (cluster mode). Extension point: a cluster supervisor's frame source fills
 * `DashboardFrame.workers` and the page shows a row per worker; a single process sends none.
 */
export interface WorkerFrame {
  id: number;
  pid: number;
  state: string;
  uptimeSeconds: number;
  /** Workers its slot has had to replace after a crash. */
  restarts: number;
  /** Its pools as it last answered (empty until it has). */
  pools: PoolFrame[];
  /** Why it did not answer the last ask (its pools are then those of the answer before). */
  error?: string;
}

/** What `/events` sends each second, as one JSON `data:` line. */
export interface DashboardFrame {
  /** When the frame was built (ms since epoch). */
  at: number;
  state: StatusReport['state'];
  ready: boolean;
  uptimeSeconds: number;
  pools: PoolFrame[];
  shutdown: ShutdownFrame;
  /** Per worker, with cluster mode; absent in a single process. */
  workers?: WorkerFrame[];
}

/** What the frames are read from: the same application view `/status` and `/metrics` read. */
export type FrameSource = Parameters<typeof buildStatusReport>[0] &
  Pick<MetricsSource, 'stats'> & {
    /** Extension point for cluster mode: each worker's state and pools, as the supervisor last heard them. */
    workerFrames?(): WorkerFrame[] | undefined;
  };

interface Reading {
  at: number;
  requests: number;
  failed: number;
  rates: PoolRates;
}

/** Readings closer together than this (a frame pushed right after a tick) keep the rates of the previous one. */
const MIN_RATE_INTERVAL_MS = 250;
const DEFAULT_INTERVAL_MS = 1000;
const NO_RATES: PoolRates = Object.freeze({ requestsPerSecond: null, failedPerSecond: null });

/**
 * Builds dashboard frames from `buildStatusReport` (so every figure is the one `/status` shows)
 * and keeps the previous reading of each pool's counters to turn them into per-second rates.
 * A reading older than two frame intervals (nobody watched for a while) is not used: an average
 * over the idle gap would show as the current rate, so that frame has `null` rates. A counter
 * lower than its previous reading (reset) gives `null` too, and becomes the new baseline.
 */
export class DashboardFrames {
  private readonly previous = new WeakMap<object, Reading>();
  /** A previous reading older than this (ms) is stale. */
  private readonly maxGapMs: number;

  /** `intervalMs`: the time between frames (the event stream's), default 1000. */
  constructor(
    private readonly source: FrameSource,
    options: { intervalMs?: number } = {},
  ) {
    this.maxGapMs = 2 * (options.intervalMs ?? DEFAULT_INTERVAL_MS);
  }

  build(): DashboardFrame {
    const source = this.source;
    // No config: the frame carries figures only, never a setting (nor a secret).
    const report = buildStatusReport({ state: source.state, isReady: source.isReady, pools: source.pools, config: undefined, startedAt: source.startedAt });
    const at = Date.now();
    const pools: PoolFrame[] = report.pools.map((status, i) => {
      const pool = source.pools[i];
      const { config: _settings, ...shown } = status;
      return { ...shown, rates: this.rates(pool, at, status), known: pool.knownLabelValues() };
    });
    const workers = source.workerFrames?.();
    // Cluster primary: every worker's pools, each with its worker, as the primary's `/status` lists them.
    if (workers) for (const w of workers) for (const pool of w.pools) pools.push({ ...pool, worker: w.id });
    const frame: DashboardFrame = { at, state: report.state, ready: report.ready, uptimeSeconds: report.uptimeSeconds, pools, shutdown: this.shutdown(report.state) };
    if (workers) frame.workers = workers;
    return frame;
  }

  private rates(pool: object, at: number, status: PoolStatus): PoolRates {
    const { total, failed } = status.metrics.requests;
    const before = this.previous.get(pool);
    if (before && at - before.at < MIN_RATE_INTERVAL_MS) return before.rates;
    const usable = before !== undefined && at - before.at <= this.maxGapMs && total >= before.requests && failed >= before.failed;
    const seconds = usable ? (at - before.at) / 1000 : 0;
    const rates: PoolRates = usable ? { requestsPerSecond: (total - before.requests) / seconds, failedPerSecond: (failed - before.failed) / seconds } : NO_RATES;
    this.previous.set(pool, { at, requests: total, failed, rates });
    return rates;
  }

  private shutdown(state: string): ShutdownFrame {
    const durations = this.source.stats.shutdownPhases;
    const done = SHUTDOWN_PHASES.filter((phase) => durations.has(phase)).map((phase) => ({ phase, durationMs: durations.get(phase) as number }));
    const running = state === 'stopping' ? SHUTDOWN_PHASES.find((phase) => !durations.has(phase)) : undefined;
    return running ? { phases: SHUTDOWN_PHASES, done, running } : { phases: SHUTDOWN_PHASES, done };
  }
}

