import type { HealthThresholds } from '../config/pool-config';

/** Health of a pool, worst last. */
export enum PoolHealthStatus {
  Healthy = 'HEALTHY',
  Degraded = 'DEGRADED',
  Overloaded = 'OVERLOADED',
  Unavailable = 'UNAVAILABLE',
}

/** Every status in order of severity. */
export const HEALTH_STATUSES: readonly PoolHealthStatus[] = [
  PoolHealthStatus.Healthy,
  PoolHealthStatus.Degraded,
  PoolHealthStatus.Overloaded,
  PoolHealthStatus.Unavailable,
];

/**
 * How a health reason starts when the pool is OVERLOADED because it sheds work (overload
 * protection doing its job): `shedding work: limit 4, 120 shed`. Readers that treat shedding
 * apart (the gRPC health service stays SERVING) match on it.
 */
export const SHEDDING_REASON_PREFIX = 'shedding work:';

/** A health status with why it was given and the figures it was judged on. */
export interface HealthReport {
  status: PoolHealthStatus;
  reason: string;
  utilization: number;
  errorRate: number;
  p95LatencyMs: number;
  checkedAt: number;
}

/** What health is judged on. */
export interface HealthInputs {
  listening: boolean;
  draining: boolean;
  active: number;
  maxConnections: number;
  requests: number;
  errors: number;
  p95LatencyMs: number;
  /** Extra findings from a protocol (a certificate close to expiry, say). */
  extra?: ReadonlyArray<{ status: PoolHealthStatus; reason: string }>;
}

type Level = 0 | 1 | 2;
const LEVEL_STATUS = [PoolHealthStatus.Healthy, PoolHealthStatus.Degraded, PoolHealthStatus.Overloaded] as const;

/**
 * Turns figures into a status with hysteresis: a dimension climbs as soon as it reaches a
 * threshold, and falls back only once it is below `threshold * (1 - hysteresis)`, so a value that
 * hovers at a boundary does not make the status flap.
 */
export class PoolHealth {
  private utilizationLevel: Level = 0;
  private errorLevel: Level = 0;
  private latencyLevel: Level = 0;

  constructor(public thresholds: HealthThresholds) {}

  private static level(value: number, degraded: number, overloaded: number, current: Level, h: number): Level {
    let next: Level = value >= overloaded ? 2 : value >= degraded ? 1 : 0;
    if (current === 2 && next < 2 && value >= overloaded * (1 - h)) next = 2;
    if (current >= 1 && next < 1 && value >= degraded * (1 - h)) next = 1;
    return next;
  }

  evaluate(inputs: HealthInputs, now: number): HealthReport {
    const t = this.thresholds;
    const utilization = inputs.maxConnections > 0 ? inputs.active / inputs.maxConnections : 0;
    const judged = inputs.requests >= t.minRequests;
    const errorRate = judged ? inputs.errors / inputs.requests : 0;
    const p95 = judged ? inputs.p95LatencyMs : 0;
    this.utilizationLevel = PoolHealth.level(utilization, t.degradedUtilization, t.overloadedUtilization, this.utilizationLevel, t.hysteresis);
    this.errorLevel = PoolHealth.level(errorRate, t.degradedErrorRate, t.overloadedErrorRate, this.errorLevel, t.hysteresis);
    this.latencyLevel = PoolHealth.level(p95, t.degradedLatencyMs, t.overloadedLatencyMs, this.latencyLevel, t.hysteresis);
    const figures = { utilization, errorRate, p95LatencyMs: p95, checkedAt: now };

    if (!inputs.listening) return { status: PoolHealthStatus.Unavailable, reason: 'not listening', ...figures };
    if (inputs.draining) return { status: PoolHealthStatus.Unavailable, reason: 'draining', ...figures };

    const findings: Array<{ status: PoolHealthStatus; reason: string }> = [];
    if (this.utilizationLevel) findings.push({ status: LEVEL_STATUS[this.utilizationLevel], reason: `utilization ${utilization.toFixed(2)} (${inputs.active}/${inputs.maxConnections})` });
    if (this.errorLevel) findings.push({ status: LEVEL_STATUS[this.errorLevel], reason: `error rate ${errorRate.toFixed(3)} over ${inputs.requests} requests` });
    if (this.latencyLevel) findings.push({ status: LEVEL_STATUS[this.latencyLevel], reason: `p95 latency ${p95.toFixed(1)} ms` });
    if (inputs.extra) findings.push(...inputs.extra);
    if (findings.length === 0) return { status: PoolHealthStatus.Healthy, reason: 'ok', ...figures };
    const worst = Math.max(...findings.map((f) => HEALTH_STATUSES.indexOf(f.status)));
    const reasons = findings.filter((f) => HEALTH_STATUSES.indexOf(f.status) === worst).map((f) => f.reason);
    return { status: HEALTH_STATUSES[worst], reason: reasons.join('; '), ...figures };
  }
}
