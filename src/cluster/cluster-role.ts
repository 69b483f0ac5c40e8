import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { ClusterConfig } from './cluster-config';

/** Set in the environment of every worker a unipool primary forks: how a worker knows it is ours (and not PM2's). */
export const WORKER_ENV = 'UNIPOOL_CLUSTER_WORKER';
/** The worker's budget (slot, slots, what the worker it replaces still holds), JSON; see `BudgetSpec`. */
export const BUDGET_ENV = 'UNIPOOL_CLUSTER_BUDGET';

/** How this process runs the app: alone, as the supervising primary, or as one of its workers. */
export type ClusterRole = 'single' | 'primary' | 'worker';

/** The number of workers the section asks for (`"auto"`: the available parallelism). */
export function workerCount(config: ClusterConfig | undefined): number {
  if (!config) return 0;
  return config.workers === 'auto' ? availableParallelism() : config.workers;
}

/**
 * The role of this process. A worker forked by a unipool primary runs the servers; a process
 * forked by another cluster manager (PM2 cluster mode) runs alone whatever the section says,
 * since its primary runs no code of ours.
 */
export function clusterRole(config: ClusterConfig | undefined, env: NodeJS.ProcessEnv = process.env): ClusterRole {
  if (cluster.isWorker) return env[WORKER_ENV] ? 'worker' : 'single';
  return workerCount(config) > 0 ? 'primary' : 'single';
}
