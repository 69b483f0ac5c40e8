import type { HealthThresholds } from '../config/pool-config';
import { refreshWallClock } from './clock';
import { PoolHealth, PoolHealthStatus, type HealthInputs, type HealthReport } from './pool-health';

/**
 * A pool's health over time: judges the pool's figures (`PoolHealth`, with hysteresis) on an
 * interval while it listens and whenever asked, keeps the last report, and says when the status
 * moved. The timer is unref'd and stopped by `stop()`.
 */
export class HealthMonitor {
  private readonly judge: PoolHealth;
  private last: HealthReport;
  private timer: NodeJS.Timeout | undefined = undefined;

  /**
   * `inputs` reads the pool's figures when health is judged; `changed` hears each move of the
   * status, after the new report is stored.
   */
  constructor(
    thresholds: HealthThresholds,
    private readonly inputs: () => HealthInputs,
    private readonly changed: (previous: HealthReport, current: HealthReport) => void,
  ) {
    this.judge = new PoolHealth(thresholds);
    // Not judged here: the pool's figures may not be readable yet (a subclass still constructing).
    this.last = { status: PoolHealthStatus.Unavailable, reason: 'not listening', utilization: 0, errorRate: 0, p95LatencyMs: 0, checkedAt: Date.now() };
  }

  /** New thresholds, used from the next check. */
  set thresholds(thresholds: HealthThresholds) {
    this.judge.thresholds = thresholds;
  }

  /** Whether the interval runs. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Calls `tick` (the owner's check, which ends in `check()`) every `intervalMs` from now, restarting the interval if it ran. */
  start(intervalMs: number, tick: () => void): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(tick, intervalMs).unref();
  }

  /** Stops the interval. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Judges health now; `changed` hears it if the status moved. */
  check(): HealthReport {
    refreshWallClock();
    const current = this.judge.evaluate(this.inputs(), Date.now());
    const previous = this.last;
    this.last = current;
    if (current.status !== previous.status) this.changed(previous, current);
    return current;
  }
}
