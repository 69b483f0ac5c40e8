import type { PoolFrame, WorkerFrame } from '../observability/dashboard/dashboard-frames';
import type { ClusterPrimary } from './cluster-primary';

/**
 * The dashboard of a cluster primary: every worker as the primary knows it now (id, pid, state,
 * uptime, restarts) with its pools as it last answered. Frames are built synchronously, so each
 * build returns what is known and asks the workers again over IPC (one ask at a time, each
 * within `cluster.scrapeTimeout`); the pools of a frame are those of the previous ask, at most
 * one frame interval old. Nothing is asked while no `/events` stream is open.
 */
export class ClusterFrames {
  private heard = new Map<number, { pools: PoolFrame[]; error?: string }>();
  private asking: Promise<void> | undefined;

  constructor(private readonly primary: ClusterPrimary) {}

  workerFrames(): WorkerFrame[] {
    this.ask();
    return this.primary.workers().map((w) => {
      const heard = this.heard.get(w.id);
      const frame: WorkerFrame = { id: w.id, pid: w.pid ?? 0, state: w.state, uptimeSeconds: w.uptimeSeconds, restarts: w.restarts, pools: heard?.pools ?? [] };
      if (heard?.error !== undefined) frame.error = heard.error;
      return frame;
    });
  }

  private ask(): void {
    this.asking ??= this.primary
      .collect<PoolFrame[]>('frame')
      .then((replies) => {
        const heard = new Map<number, { pools: PoolFrame[]; error?: string }>();
        // A worker that did not answer keeps the pools it last reported, with why it is silent.
        for (const r of replies) heard.set(r.info.id, r.value ? { pools: r.value } : { pools: this.heard.get(r.info.id)?.pools ?? [], error: r.error });
        this.heard = heard;
      })
      .finally(() => (this.asking = undefined));
  }
}
