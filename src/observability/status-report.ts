import { instanceToPlain } from 'class-transformer';
import { redactSecrets } from '../config/redact';
import type { ConnectionPoolManager } from '../core/connection-pool-manager';
import type { HealthReport } from '../core/pool-health';
import type { PoolMetricsSnapshot } from '../core/pool-types';

/** One pool as `/status` shows it. */
export interface PoolStatus {
  protocol: string;
  /** The pool's name (`ConnectionPoolManager.name`), as in the `pool` label of `/metrics`. */
  pool: string;
  /** The pool's class. */
  poolClass: string;
  health: HealthReport;
  metrics: PoolMetricsSnapshot;
  /** Effective config with every secret replaced by `[redacted]`. */
  config: unknown;
}

/** What `/status` serves. */
export interface StatusReport {
  state: string;
  ready: boolean;
  uptimeSeconds: number;
  pools: PoolStatus[];
  /** Every other config section (shutdown, admin...), secrets redacted. */
  config: Record<string, unknown>;
}

/** The status of every pool plus the application's own sections, with no secret or key material. */
export function buildStatusReport(app: {
  state: string;
  isReady: boolean;
  pools: readonly ConnectionPoolManager<unknown>[];
  config: ReadonlyMap<string, object> | undefined;
  startedAt: number;
}): StatusReport {
  const config: Record<string, unknown> = {};
  for (const [section, value] of app.config ?? []) config[section] = redactSecrets(instanceToPlain(value));
  return {
    state: app.state,
    ready: app.isReady,
    uptimeSeconds: Math.round((Date.now() - app.startedAt) / 100) / 10,
    pools: app.pools.map((pool) => ({
      protocol: pool.protocol,
      pool: pool.name,
      poolClass: pool.constructor.name,
      health: pool.getHealth(),
      metrics: pool.getMetrics(),
      config: redactSecrets(instanceToPlain(pool.config)),
    })),
    config,
  };
}
