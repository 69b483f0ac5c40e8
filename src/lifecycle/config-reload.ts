import { instanceToPlain } from 'class-transformer';
import type { ValidatedConfig } from '../config/config-loader';
import type { ConnectionPoolManager } from '../core/connection-pool-manager';
import type { PreparedConfigUpdate } from '../core/pool-types';
import { ConfigValidationError, type ConfigProblem, type UnipoolError } from '../errors';

/** Outcome of `Application.reload()`. */
export interface ReloadResult {
  /** True when the new config was valid and is in effect (bar `restartRequired`). */
  ok: boolean;
  /** Dotted keys whose new values are in effect, e.g. `http.maxConnections`. */
  applied: string[];
  /** Dotted keys that changed but need a restart (ports, hosts...); they keep their old values. */
  restartRequired: string[];
  /** Every problem found when `ok` is false. */
  problems: ConfigProblem[];
  /** The error that rejected the reload, when `ok` is false. */
  error?: UnipoolError;
  durationMs: number;
}

/** How a section without a pool takes changes: every key live, only some, or none (restart). */
export type SectionReloadPolicy = 'live' | 'restart' | ReadonlySet<string>;

/** A reload worked out in full before anything changes. */
export interface ReloadPlan {
  pools: Array<{ section: string; pool: ConnectionPoolManager<unknown>; update: PreparedConfigUpdate<object> }>;
  /** Changed keys of sections without a pool that apply live, by section. */
  live: Map<string, string[]>;
  applied: string[];
  restartRequired: string[];
}

function plain(value: object | undefined): Record<string, unknown> {
  return value === undefined ? {} : (instanceToPlain(value) as Record<string, unknown>);
}

/**
 * Compares the running config with a validated new one and prepares every pool's update,
 * without applying anything. Throws `ConfigValidationError` with every problem any pool finds.
 */
export function planReload(
  current: ValidatedConfig,
  next: ValidatedConfig,
  poolSections: ReadonlyMap<string, ConnectionPoolManager<unknown>>,
  policy: (section: string) => SectionReloadPolicy,
): ReloadPlan {
  const plan: ReloadPlan = { pools: [], live: new Map(), applied: [], restartRequired: [] };
  const problems: ConfigProblem[] = [];
  for (const section of new Set([...current.keys(), ...next.keys()])) {
    const before = current.get(section);
    const after = next.get(section);
    if (!before || !after) {
      // A section that appears or disappears (the admin server, say) changes what runs.
      plan.restartRequired.push(section);
      continue;
    }
    const pool = poolSections.get(section);
    if (pool) {
      try {
        const update = pool.prepareConfigUpdate(plain(after), { replace: true });
        plan.pools.push({ section, pool, update });
        plan.applied.push(...update.applied.map((k) => `${section}.${k}`));
        plan.restartRequired.push(...update.restartRequired.map((k) => `${section}.${k}`));
      } catch (err) {
        if (err instanceof ConfigValidationError) problems.push(...err.problems);
        else throw err;
      }
      continue;
    }
    const a = plain(before);
    const b = plain(after);
    const rule = policy(section);
    const live: string[] = [];
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (JSON.stringify(a[key]) === JSON.stringify(b[key])) continue;
      const isLive = rule === 'live' || (rule !== 'restart' && rule.has(key));
      if (isLive) live.push(key);
      (isLive ? plan.applied : plan.restartRequired).push(`${section}.${key}`);
    }
    if (live.length) plan.live.set(section, live);
  }
  if (problems.length) throw new ConfigValidationError(problems, 'reload');
  return plan;
}
