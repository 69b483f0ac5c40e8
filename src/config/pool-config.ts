import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsInt, IsNumber, IsObject, IsString, Max, Min, MinLength, ValidateIf, ValidateNested } from 'class-validator';
import type { ConfigProblem } from '../errors';
import { OverloadConfig } from '../overload/overload-config';

/** Config classes may add rules that span several keys; problems use paths relative to the section. */
export interface CrossFieldRules {
  crossCheck(): ConfigProblem[];
}

/** Thresholds that turn metrics into a health status. Fractions are 0..1, times are milliseconds. */
export class HealthThresholds implements CrossFieldRules {
  /** Utilisation (active / maxConnections) at which the pool becomes DEGRADED. */
  @IsNumber() @Min(0) @Max(1) degradedUtilization = 0.8;
  /** Utilisation at which the pool becomes OVERLOADED. */
  @IsNumber() @Min(0) @Max(1) overloadedUtilization = 0.95;
  /** Error rate (errors / requests in the window) at which the pool becomes DEGRADED. */
  @IsNumber() @Min(0) @Max(1) degradedErrorRate = 0.05;
  /** Error rate at which the pool becomes OVERLOADED. */
  @IsNumber() @Min(0) @Max(1) overloadedErrorRate = 0.25;
  /** p95 latency (ms) in the window at which the pool becomes DEGRADED. */
  @IsInt() @Min(1) degradedLatencyMs = 1000;
  /** p95 latency (ms) in the window at which the pool becomes OVERLOADED. */
  @IsInt() @Min(1) overloadedLatencyMs = 5000;
  /** A status is left only when its metric falls below `threshold * (1 - hysteresis)`. */
  @IsNumber() @Min(0) @Max(0.9) hysteresis = 0.1;
  /** Fewer requests than this in the window are not enough to judge error rate or latency. */
  @IsInt() @Min(1) minRequests = 20;
  /** How often (ms) health is re-evaluated in the background. */
  @IsInt() @Min(10) @Max(3_600_000) checkInterval = 1000;
  /** Sliding window (ms) for connections/s, error rate and latency quantiles. */
  @IsInt() @Min(1000) @Max(3_600_000) window = 60_000;

  crossCheck(): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const pairs: Array<[keyof HealthThresholds, keyof HealthThresholds]> = [
      ['degradedUtilization', 'overloadedUtilization'],
      ['degradedErrorRate', 'overloadedErrorRate'],
      ['degradedLatencyMs', 'overloadedLatencyMs'],
    ];
    for (const [low, high] of pairs) {
      if ((this[low] as number) > (this[high] as number)) {
        problems.push({ path: String(low), rule: 'crossField', message: `must not be greater than ${String(high)} (${String(this[high])})`, value: this[low] });
      }
    }
    return problems;
  }
}

/** Settings every connection pool has, whatever its protocol. Times are milliseconds; 0 turns a timeout off. */
export class PoolSettings implements CrossFieldRules {
  /** Hard cap on live connections; one more is refused in the protocol's own terms. */
  @IsInt() @Min(1) @Max(1_000_000) maxConnections = 1000;
  /** Time a new connection may take to start its first unit of work (request, handshake). */
  @IsInt() @Min(0) @Max(86_400_000) connectionTimeout = 10_000;
  /** Time a connection with nothing in flight may stay open. */
  @IsInt() @Min(0) @Max(86_400_000) idleTimeout = 0;
  /** Health thresholds. */
  @IsObject() @ValidateNested() @Type(() => HealthThresholds) health: HealthThresholds = new HealthThresholds();
  /** Overload protection: a concurrency limiter for units of work, a queue, process pressure and graded actions (off by default). */
  @IsObject() @ValidateNested() @Type(() => OverloadConfig) overload: OverloadConfig = new OverloadConfig();

  crossCheck(): ConfigProblem[] {
    return [
      ...this.health.crossCheck().map((p) => ({ ...p, path: `health.${p.path}` })),
      ...(typeof this.overload?.crossCheck === 'function' ? this.overload.crossCheck().map((p) => ({ ...p, path: `overload.${p.path}` })) : []),
    ];
  }
}

/** Settings of a pool that owns a listening server. */
export class ServerPoolSettings extends PoolSettings {
  /** Interface to bind. Defaults to loopback: expose a service on purpose, not by accident. */
  @IsString() @MinLength(1) host = '127.0.0.1';
  /** TCP port; 0 picks a free one. */
  @IsInt() @Min(0) @Max(65_535) port = 0;
}

const EXIT_DELAY_RULE = 'must be a non-negative integer (ms) or false';

/** Section `shutdown`: how the application stops. */
export class ShutdownConfig {
  /** Drain deadline (ms) from the start of the drain phase; what is left then is force-closed. */
  @IsInt() @Min(0) @Max(3_600_000) timeout = 30_000;
  /** Wait (ms) after readiness turns false, before listeners close, so load balancers notice. */
  @IsInt() @Min(0) @Max(3_600_000) drainDelay = 0;
  /** Time (ms) each lifecycle hook may take before it counts as failed. */
  @IsInt() @Min(1) @Max(3_600_000) hookTimeout = 10_000;
  /**
   * After a shutdown started by a signal: time (ms) the process may still run once `stop()` has
   * resolved before it is ended with `process.exit` (the handles still open are logged). `false`:
   * never (an embedder that owns the process).
   */
  @ValidateIf((config: ShutdownConfig) => config.exitDelay !== false)
  @IsInt({ message: EXIT_DELAY_RULE })
  @Min(0, { message: EXIT_DELAY_RULE })
  @Max(3_600_000)
  exitDelay: number | false = 1000;
}
