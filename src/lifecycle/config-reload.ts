import type { ValidatedConfig } from '../config/config-loader';
import { plainConfig } from '../core/config-diff';
import type { ManagedServer } from '../core/managed-server';
import type { PreparedConfigUpdate } from '../core/pool-types';
import { ConfigValidationError, type ConfigProblem, type UnipoolError } from '../errors';
import { sharedPoolProblems, sharedPortProblems, type PoolGroup, type SectionReader } from './section-rules';

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

/** How a section without a server takes changes: every key live, only some, or none (restart). */
export type SectionReloadPolicy = 'live' | 'restart' | ReadonlySet<string>;

/** What a reload changes: the servers (each with its own section) and the pools they share. */
export interface ReloadTargets {
  /** Every server with the section it reads, in startup order. */
  servers: ReadonlyArray<{ server: ManagedServer; section: string }>;
  /** Each pool with the servers sharing it. */
  pools: readonly PoolGroup[];
}

/** One prepared change: applied by `update.commit()`, undone by `rollback()`. */
export interface ReloadStep {
  section: string;
  update: PreparedConfigUpdate<object>;
  rollback(): void;
}

/** A reload worked out in full before anything changes. */
export interface ReloadPlan {
  /** Server changes first, then pool changes; committed in this order, rolled back in reverse. */
  steps: ReloadStep[];
  /** Changed keys of sections without a server that apply live, by section. */
  live: Map<string, string[]>;
  applied: string[];
  restartRequired: string[];
}

function collect(problems: ConfigProblem[], fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigValidationError) problems.push(...err.problems);
    else throw err;
  }
}

/**
 * Compares the running config with a validated new one and prepares every server's and pool's
 * update, without applying anything. Each server takes its own section's server keys; each pool
 * takes its keys from its first server's section, and the other sections sharing it must agree.
 * Throws `ConfigValidationError` with every problem found.
 */
export function planReload(current: ValidatedConfig, next: ValidatedConfig, targets: ReloadTargets, policy: (section: string) => SectionReloadPolicy): ReloadPlan {
  const plan: ReloadPlan = { steps: [], live: new Map(), applied: [], restartRequired: [] };
  const readers: SectionReader[] = targets.servers.map(({ server, section }) => ({ section, server: server.name }));
  const problems: ConfigProblem[] = [...sharedPortProblems(readers, next)];
  for (const group of targets.pools) problems.push(...sharedPoolProblems(group, next));
  const serverSections = new Set(readers.map((r) => r.section));
  const reported = new Set<string>();

  for (const section of new Set([...current.keys(), ...next.keys()])) {
    const before = current.get(section);
    const after = next.get(section);
    if (!before || !after) {
      // A section that appears or disappears (the admin server, say) changes what runs.
      plan.restartRequired.push(section);
      continue;
    }
    if (serverSections.has(section)) continue;
    const a = plainConfig(before);
    const b = plainConfig(after);
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

  for (const { server, section } of targets.servers) {
    const after = next.get(section);
    if (!after || !current.get(section)) continue;
    collect(problems, () => {
      const update = server.prepareConfig(after as ManagedServer['config']);
      plan.steps.push({ section, update, rollback: () => void server.prepareConfig(update.previous).commit() });
      // Two servers reading one section change the same keys: report them once.
      if (reported.has(section)) return;
      reported.add(section);
      plan.applied.push(...update.applied.map((k) => `${section}.${k}`));
      plan.restartRequired.push(...update.restartRequired.map((k) => `${section}.${k}`));
    });
  }

  for (const { pool, readers: sharing } of targets.pools) {
    const first = sharing[0];
    const after = first && next.get(first.section);
    if (!after) continue;
    collect(problems, () => {
      const update = pool.prepareConfigUpdate(plainConfig(after), { replace: true });
      plan.steps.push({ section: first.section, update, rollback: () => void pool.prepareConfigUpdate(plainConfig(update.previous), { replace: true }).commit() });
      // The pool's keys are in every section that shares it: each one's change is reported.
      for (const section of new Set(sharing.map((r) => r.section))) {
        plan.applied.push(...update.applied.map((k) => `${section}.${k}`));
        plan.restartRequired.push(...update.restartRequired.map((k) => `${section}.${k}`));
      }
    });
  }
  if (problems.length) throw new ConfigValidationError(problems, 'reload');
  return plan;
}
