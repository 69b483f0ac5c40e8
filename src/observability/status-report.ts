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
  /** The pool's own settings (`pool.poolKeys()`); each server's section is under the report's `config`. */
  config: unknown;
}

/** What `/status` serves. */
export interface StatusReport {
  state: string;
  ready: boolean;
  uptimeSeconds: number;
  pools: PoolStatus[];
  /** Every config section (the servers' included, shutdown, admin...), secrets redacted. */
  config: Record<string, unknown>;
}

/** The keys a pool owns, as in effect; the other keys of its section belong to each server. */
function poolSettings(pool: ConnectionPoolManager<unknown>): Record<string, unknown> {
  const all = instanceToPlain(pool.config) as Record<string, unknown>;
  const own: Record<string, unknown> = {};
  for (const key of pool.poolKeys()) own[key] = all[key];
  return own;
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
      config: redactSecrets(poolSettings(pool)),
    })),
    config,
  };
}
