import { buildStatusReport, type PoolStatus, type StatusReport } from '../observability/status-report';
import type { ClusterPrimary, WorkerInfo } from './cluster-primary';

/** One worker as a cluster primary's `/status` shows it. */
export interface WorkerStatus extends WorkerInfo {
  /** The worker's own readiness, when it answered. */
  ready?: boolean;
  /** Its pools, when it answered. */
  pools?: PoolStatus[];
  /** Why it did not answer within `cluster.scrapeTimeout`. */
  error?: string;
}

/** `/status` of a cluster primary: the app's state and config, every worker with its pools, and every worker's pools (each with its `worker`). */
export interface ClusterStatusReport extends StatusReport {
  pools: Array<PoolStatus & { worker: number }>;
  cluster: { workers: WorkerStatus[]; readyWorkers: number; minReady: number; restarts: number };
}

/** Asks every worker for its status (each within `cluster.scrapeTimeout`) and puts them in one report. */
export async function buildClusterStatus(primary: ClusterPrimary, app: Parameters<typeof buildStatusReport>[0]): Promise<ClusterStatusReport> {
  const replies = await primary.collect<StatusReport>('status');
  const base = buildStatusReport(app);
  const workers: WorkerStatus[] = replies.map((r) => (r.value ? { ...r.info, ready: r.value.ready, pools: r.value.pools } : { ...r.info, error: r.error }));
  const pools = replies.flatMap((r) => (r.value?.pools ?? []).map((p) => ({ ...p, worker: r.info.id })));
  return { ...base, pools, cluster: { workers, readyWorkers: primary.readyCount, minReady: primary.minReady, restarts: primary.stats.restarts } };
}
