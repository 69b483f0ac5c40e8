import type { OverloadActions, PressureSettings } from './overload-config';
import { HysteresisGate } from './hysteresis-gate';
import { PressureLevel } from './pressure-level';
import { delayBeyondResolutionMs, ProcessPressureSources, type PressureSources } from './pressure-sources';

/** The last sample of every signal; one object, updated in place. */
export interface PressureSnapshot {
  /** ms; 0 when not measured. */
  eventLoopDelayMs: number;
  /** 0..1; 0 when not measured. */
  eventLoopUtilization: number;
  /** bytes; 0 when not measured. */
  heapUsedBytes: number;
  /** bytes; 0 when not measured. */
  rssBytes: number;
  /** Highest `value / threshold` over the configured signals (1 = at a threshold). */
  pressure: number;
  /** Level after this sample. */
  level: PressureLevel;
  /** When it was taken (the monitor's clock, ms). */
  at: number;
}

/** Options of a `PressureMonitor`. */
export interface PressureMonitorOptions {
  /** Default: the process's own (`ProcessPressureSources`). */
  sources?: PressureSources;
  /** Monotonic clock (ms); default `performance.now`. */
  clock?: () => number;
  /** Measure event-loop delay even without `maxEventLoopDelay` (an adaptive limiter counts it as waiting time). */
  trackEventLoopDelay?: boolean;
  /** The combined level changed (for `PressureChanged` events once wired). */
  onChange?(level: PressureLevel, previous: PressureLevel, snapshot: Readonly<PressureSnapshot>): void;
  /** Every sample, after the level is settled. */
  onSample?(snapshot: Readonly<PressureSnapshot>): void;
}

/** Whether a `pressure` block turns any signal on (a monitor costs nothing when none is). */
export function pressureConfigured(settings: PressureSettings): boolean {
  return settings.maxEventLoopDelay > 0 || settings.maxEventLoopUtilization > 0 || settings.maxHeapUsedBytes > 0 || settings.maxRssBytes > 0;
}

/**
 * Samples event-loop delay, event-loop utilisation, heap and RSS on an interval, turns them into
 * one pressure figure (the highest `value / threshold`) and the graded level whose action start
 * (`overload.actions`) it reached. Each action is a hysteresis gate (entered at its start, left
 * below `start x exitRatio` after `holdTime`), so nothing flaps. The timer is unref'd and stopped
 * by `close()`.
 */
export class PressureMonitor {
  /** The current level. */
  level = PressureLevel.None;
  /** The last sample. */
  readonly snapshot: PressureSnapshot = { eventLoopDelayMs: 0, eventLoopUtilization: 0, heapUsedBytes: 0, rssBytes: 0, pressure: 0, level: PressureLevel.None, at: 0 };
  private readonly sources: PressureSources;
  private readonly clock: () => number;
  private readonly gates: Array<[PressureLevel, HysteresisGate]> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: PressureSettings,
    actions: OverloadActions,
    private readonly options: PressureMonitorOptions = {},
  ) {
    this.sources = options.sources ?? new ProcessPressureSources();
    this.clock = options.clock ?? (() => performance.now());
    const { exitRatio, holdTime } = settings.hysteresis;
    const graded: Array<[PressureLevel, number]> = [
      [PressureLevel.CloseKeepAlive, actions.closeKeepAlive],
      [PressureLevel.RefuseConnections, actions.refuseConnections],
      [PressureLevel.ShedWork, actions.shedWork],
    ];
    for (const [level, enter] of graded) if (enter > 0) this.gates.push([level, new HysteresisGate({ enter, exitRatio, holdTime })]);
  }

  /** Sampling interval (ms) the sources' event-loop delay includes (10 for the process's own, 0 for injected ones without `resolutionMs`). */
  get delayResolutionMs(): number {
    return this.sources.resolutionMs ?? 0;
  }

  /** Starts sampling every `sampleInterval` ms. */
  start(): void {
    if (this.timer) return;
    this.sources.start();
    this.timer = setInterval(() => this.sample(this.clock()), this.settings.sampleInterval);
    this.timer.unref();
  }

  /** Stops sampling and releases the sources. */
  close(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.sources.stop();
  }

  /** Takes one sample at `now` (the interval calls this; tests may too). */
  sample(now: number): void {
    const s = this.settings;
    const snap = this.snapshot;
    let pressure = 0;
    if (s.maxEventLoopDelay > 0 || this.options.trackEventLoopDelay) {
      snap.eventLoopDelayMs = this.sources.eventLoopDelayMs();
      // The threshold is about delay, not the histogram's own sampling interval (an idle loop reads 10-15 ms).
      if (s.maxEventLoopDelay > 0) pressure = Math.max(pressure, delayBeyondResolutionMs(snap.eventLoopDelayMs, this.delayResolutionMs) / s.maxEventLoopDelay);
    }
    if (s.maxEventLoopUtilization > 0) {
      snap.eventLoopUtilization = this.sources.eventLoopUtilization();
      pressure = Math.max(pressure, snap.eventLoopUtilization / s.maxEventLoopUtilization);
    }
    if (s.maxHeapUsedBytes > 0) {
      snap.heapUsedBytes = this.sources.heapUsedBytes();
      pressure = Math.max(pressure, snap.heapUsedBytes / s.maxHeapUsedBytes);
    }
    if (s.maxRssBytes > 0) {
      snap.rssBytes = this.sources.rssBytes();
      pressure = Math.max(pressure, snap.rssBytes / s.maxRssBytes);
    }
    snap.pressure = pressure;
    snap.at = now;
    let level = PressureLevel.None;
    for (const [gateLevel, gate] of this.gates) {
      gate.update(pressure, now);
      if (gate.active && gateLevel > level) level = gateLevel;
    }
    const previous = this.level;
    this.level = level;
    snap.level = level;
    if (level !== previous) this.options.onChange?.(level, previous, snap);
    this.options.onSample?.(snap);
  }
}
