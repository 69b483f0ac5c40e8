import cluster from 'node:cluster';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { ConfigSource } from '../config/config-loader';
import { ShutdownConfig } from '../config/pool-config';
import type { ConnectionPoolManager } from '../core/connection-pool-manager';
import type { Logger } from '../core/logger';
import type { TypedEmitter } from '../core/typed-emitter';
import type { ReloadResult } from '../lifecycle/config-reload';
import { scheduleExit } from '../lifecycle/exit-after-shutdown';
import type { ShutdownResult } from '../lifecycle/shutdown-orchestrator';
import { DashboardFrames, type FrameSource } from '../observability/dashboard/dashboard-frames';
import type { StatusReport } from '../observability/status-report';
import { keepOnHandover, workerShare, type BudgetSpec } from './connection-budget';
import { isClusterMessage, type BroadcastPayload, type PrimaryMessage, type WorkerMessage } from './cluster-messages';
import { BUDGET_ENV } from './cluster-role';

/** What a worker's agent reads from and drives in its application. */
export interface WorkerHost extends Pick<FrameSource, 'startedAt' | 'stats'> {
  readonly state: string;
  readonly isReady: boolean;
  readonly pools: readonly ConnectionPoolManager<unknown>[];
  readonly config: ReadonlyMap<string, object> | undefined;
  readonly events: TypedEmitter<{ readinessChanged: { ready: boolean }; stopped: ShutdownResult; configReloaded: ReloadResult }>;
  stop(options?: { force?: boolean }): Promise<ShutdownResult>;
  reload(source?: ConfigSource): Promise<ReloadResult>;
  /** Every metric of the worker as prom-client JSON (what `AggregatorRegistry.aggregate` takes). */
  readonly metrics: { metricsJSON(): Promise<Array<MetricObjectWithValues<MetricValue<string>>>> };
  statusReport(): Promise<StatusReport>;
}

/** A pool whose broadcasts can be relayed (the WebSocket pool), recognised by shape so cluster code needs no protocol. */
interface Broadcaster {
  broadcastRelay: ((payload: Buffer, binary: boolean) => void) | undefined;
  broadcast(data: Buffer, filter: undefined, binary: boolean): unknown;
}

function isBroadcaster(pool: object): pool is Broadcaster {
  return 'broadcastRelay' in pool && typeof (pool as { broadcast?: unknown }).broadcast === 'function';
}

/** The budget this worker was forked with (`UNIPOOL_CLUSTER_BUDGET`); a lone worker gets everything. */
export function budgetFromEnv(env: NodeJS.ProcessEnv): BudgetSpec {
  try {
    const spec = JSON.parse(env[BUDGET_ENV] ?? '') as BudgetSpec;
    if (Number.isInteger(spec.slot) && Number.isInteger(spec.slots)) return spec;
  } catch {
    // not set or not ours: the whole budget
  }
  return { slot: 0, slots: 1 };
}

/**
 * The worker's side of cluster mode: limits each pool to this worker's share of its
 * `maxConnections`, reports readiness, answers the primary's scrapes, reloads and shutdown, and
 * makes the process leave once it has stopped (the IPC channel would keep it alive). When the
 * primary is gone (killed, even with SIGKILL) the worker drains and exits: no orphan serves on.
 */
export class ClusterWorker {
  private budget: BudgetSpec;
  /** Shares this worker kept when it lent the rest of its slot to its replacement, by pool name. */
  private lent: Record<string, number> | undefined;
  /** The dashboard frames of this worker, built when the primary's dashboard first asks (none otherwise). */
  private frames: DashboardFrames | undefined;
  private stopRequested = false;

  constructor(
    private readonly host: WorkerHost,
    private readonly logger: Logger,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.budget = budgetFromEnv(env);
    // Node's cluster ends a worker at once when the IPC channel closes unexpectedly: this flag
    // turns that off, so a worker whose primary died drains its connections before it exits.
    if (cluster.worker) cluster.worker.exitedAfterDisconnect = true;
  }

  /** Sets every pool's admission to this worker's share (before listening, and after each reload). */
  applyBudget(): void {
    for (const pool of this.host.pools) {
      const share = this.lent?.[pool.name] ?? workerShare(pool.config.maxConnections, pool.name, this.budget);
      pool.setAdmissionShare(share);
    }
  }

  /** Starts listening to the primary; called once the application runs. */
  attach(): void {
    process.on('message', this.onMessage);
    process.on('disconnect', this.onPrimaryGone);
    this.host.events.on('readinessChanged', ({ ready }) => this.send({ unipool: 'readiness', ready }));
    this.host.events.on('configReloaded', () => this.applyBudget());
    this.host.events.on('stopped', (result) => this.leave(result));
    this.relayBroadcasts();
    this.send({ unipool: 'readiness', ready: this.host.isReady });
    if (!process.connected) this.onPrimaryGone();
  }

  /** Pools that broadcast (WebSocket) relay each broadcast without a filter through the primary to the other workers' clients. */
  private relayBroadcasts(): void {
    for (const pool of this.host.pools) {
      if (!isBroadcaster(pool)) continue;
      pool.broadcastRelay = (payload, binary) => this.send({ unipool: 'broadcast', payload: { pool: pool.name, data: payload.toString('base64'), binary } });
    }
  }

  /** A broadcast another worker made: sent to this worker's clients, not relayed again. */
  private deliverBroadcast(payload: BroadcastPayload): void {
    const pool = this.host.pools.find((p) => p.name === payload.pool);
    if (!pool || !isBroadcaster(pool)) return;
    const relay = pool.broadcastRelay;
    pool.broadcastRelay = undefined;
    try {
      pool.broadcast(Buffer.from(payload.data, 'base64'), undefined, payload.binary);
    } finally {
      pool.broadcastRelay = relay;
    }
  }

  /** A boot that failed: the worker leaves, so its primary sees it and no process lingers. */
  static leaveAfterFailedBoot(): void {
    process.exitCode = 1;
    if (process.connected) process.disconnect();
  }

  private send(msg: WorkerMessage, then?: () => void): void {
    if (!process.connected || !process.send) {
      then?.();
      return;
    }
    try {
      process.send(msg, undefined, {}, () => then?.());
    } catch {
      // the channel closed under us: the 'disconnect' handler takes it from here
      then?.();
    }
  }

  private readonly onMessage = (msg: unknown): void => {
    if (!isClusterMessage<PrimaryMessage>(msg)) return;
    switch (msg.unipool) {
      case 'shutdown':
        this.stop(msg.force === true, 'primary asked');
        return;
      case 'budget':
        this.budget = msg.budget;
        this.lent = undefined;
        this.applyBudget();
        return;
      case 'broadcast':
        this.deliverBroadcast(msg.payload);
        return;
      case 'request':
        void this.answer(msg.id, () => this.request(msg.what));
        return;
      case 'reload':
        void this.answer(msg.id, async () => {
          const result = await this.host.reload(msg.config);
          return { ok: result.ok, applied: result.applied, restartRequired: result.restartRequired, problems: result.problems.map((p) => `${p.path}: ${p.message}`) };
        });
        return;
    }
  };

  private async request(what: 'metrics' | 'status' | 'frame' | 'lend'): Promise<unknown> {
    if (what === 'metrics') return this.host.metrics.metricsJSON();
    if (what === 'status') return this.host.statusReport();
    // The dashboard of the primary: this worker's pools with their rates (between two asks, a frame interval apart).
    if (what === 'frame') return (this.frames ??= new DashboardFrames(this.host)).build().pools;
    const held: Record<string, number> = {};
    for (const pool of this.host.pools) {
      held[pool.name] = keepOnHandover(pool.admissionLimit, pool.size);
      pool.setAdmissionShare(held[pool.name]);
    }
    this.lent = held;
    return held;
  }

  private async answer(id: number, work: () => Promise<unknown>): Promise<void> {
    try {
      this.send({ unipool: 'reply', id, value: await work() });
    } catch (err) {
      this.send({ unipool: 'reply', id, error: err instanceof Error ? err.message : String(err) });
    }
  }

  private stop(force: boolean, why: string): void {
    if (this.host.state !== 'running' && this.host.state !== 'stopping') return;
    if (!this.stopRequested) this.logger.info({ reason: why, force }, 'cluster worker stopping');
    this.stopRequested = true;
    this.host.stop({ force }).catch(() => undefined); // 'stopped' reports the outcome
  }

  private readonly onPrimaryGone = (): void => {
    if (this.host.state !== 'running') return;
    this.logger.warn({}, 'cluster primary gone (IPC channel closed): draining, then exiting');
    this.stop(false, 'primary gone');
  };

  /** Reports the outcome, closes the IPC channel (which would keep the process alive), and bounds what is left with `exitDelay`. */
  private leave(result: ShutdownResult): void {
    const code = result.ok && !result.forcedByUser ? 0 : 1;
    process.exitCode = code;
    process.off('message', this.onMessage);
    // Disconnect once the report is written (a disconnect may drop a message still queued), and
    // through node:cluster's own handshake, not `process.disconnect()`: the primary may have
    // handed this worker a connection (round robin) before it read that the worker's servers
    // closed. Such a `newconn` is still in the channel; a worker that disconnects before reading
    // it never answers, and the primary holds that connection, unread, for ever. The worker's
    // `disconnect()` waits for the primary's ack, which comes after any such `newconn`: the
    // worker refuses it first, and the primary hands it to another worker.
    this.send({ unipool: 'stopped', ok: code === 0, graceful: result.graceful, forced: result.forced }, () => {
      if (!process.connected) return;
      if (cluster.worker) cluster.worker.disconnect();
      else process.disconnect();
    });
    const shutdown = this.host.config?.get('shutdown') as ShutdownConfig | undefined;
    scheduleExit(shutdown?.exitDelay ?? new ShutdownConfig().exitDelay, code, this.logger);
  }
}
