import { PRESSURE_LEVEL_NAMES, type PressureLevel } from './pressure-level';
import type { ShedReason } from './shed-reason';
export type { ShedReason } from './shed-reason';
export type { WorkPriority } from './work-priority';

/** Name of an overload level, as events, `/status` and `unipool_overload_state{state}` report it. */
export type OverloadState = (typeof PRESSURE_LEVEL_NAMES)[number];

/** The name of a level. */
export function overloadStateName(level: PressureLevel): OverloadState {
  return PRESSURE_LEVEL_NAMES[level];
}

/** A pool's overload protection now (`getMetrics().overload`, `/status`); absent when the pool has none. */
export interface OverloadSnapshot {
  /** `static`, `gradient2`, `vegas`, `aimd`, or `none` (pressure signals only). */
  limiter: string;
  /** Units of work that may run at once (`null`: no limit). */
  limit: number | null;
  /** Units of work admitted and running. */
  inFlight: number;
  /** Units waiting in the queue. */
  queued: number;
  /** Units shed since the pool was created, by reason. */
  shed: Record<ShedReason, number>;
  /** The current graded action. */
  state: OverloadState;
  /** Highest `value / threshold` of the configured signals at the last sample (0 without signals). */
  pressure: number;
  /** Event-loop delay (ms, p99 over the last sample interval); 0 when not measured. */
  eventLoopDelayMs: number;
  /** Queue wait of admitted units (ms). */
  queueWait: { count: number; p50Ms: number; p99Ms: number; maxMs: number };
}
