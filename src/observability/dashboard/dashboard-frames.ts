import { SHUTDOWN_PHASES, type PhaseResult } from '../../lifecycle/shutdown-orchestrator';
import type { KnownLabelValues } from '../../core/pool-types';
import type { MetricsSource } from '../prometheus-collector';
import { buildStatusReport, type PoolStatus, type StatusReport } from '../status-report';

/** Per-second rates the dashboard derives from two consecutive readings of the same counters. */
export interface PoolRates {
  /** Change of `metrics.requests.total` per second since the previous frame; `null` in the first frame. */
  requestsPerSecond: number | null;
  /** Change of `metrics.requests.failed` per second since the previous frame; `null` in the first frame. */
  failedPerSecond: number | null;
}

/** One pool in a frame: what `/status` reports of it (settings left out), plus rates and the label values known in advance. */
export interface PoolFrame extends Omit<PoolStatus, 'config'> {
  rates: PoolRates;
  /** Refusal reasons, timeout kinds and error types this pool can produce (shown at 0 until they happen). */
  known: KnownLabelValues;
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
  pools: PoolFrame[];
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

/**
 * Builds dashboard frames from `buildStatusReport` (so every figure is the one `/status` shows)
 * and keeps the previous reading of each pool's counters to turn them into per-second rates.
 */
export class DashboardFrames {
  private readonly previous = new WeakMap<object, Reading>();

  constructor(private readonly source: FrameSource) {}

  build(): DashboardFrame {
    const source = this.source;
    // No config: the frame carries figures only, never a setting (nor a secret).
    const report = buildStatusReport({ state: source.state, isReady: source.isReady, pools: source.pools, config: undefined, startedAt: source.startedAt });
    const at = Date.now();
    const pools = report.pools.map((status, i) => {
      const pool = source.pools[i];
      const { config: _settings, ...shown } = status;
      return { ...shown, rates: this.rates(pool, at, status), known: pool.knownLabelValues() };
    });
    const frame: DashboardFrame = { at, state: report.state, ready: report.ready, uptimeSeconds: report.uptimeSeconds, pools, shutdown: this.shutdown(report.state) };
    const workers = source.workerFrames?.();
    if (workers) frame.workers = workers;
    return frame;
  }

  private rates(pool: object, at: number, status: PoolStatus): PoolRates {
    const { total, failed } = status.metrics.requests;
    const before = this.previous.get(pool);
    if (before && at - before.at < MIN_RATE_INTERVAL_MS) return before.rates;
    const seconds = before ? (at - before.at) / 1000 : 0;
    const rates: PoolRates = before
      ? { requestsPerSecond: Math.max(0, total - before.requests) / seconds, failedPerSecond: Math.max(0, failed - before.failed) / seconds }
      : { requestsPerSecond: null, failedPerSecond: null };
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

