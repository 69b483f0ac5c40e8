import cluster, { type Worker } from 'node:cluster';
import type { ShutdownConfig } from '../config/pool-config';
import type { Logger } from '../core/logger';
import { WorkerStartError } from '../errors';
import type { ShutdownResult } from '../lifecycle/shutdown-orchestrator';
import type { ClusterConfig } from './cluster-config';
import { isClusterMessage, type PrimaryMessage, type WorkerMessage } from './cluster-messages';
import { BUDGET_ENV, WORKER_ENV, workerCount } from './cluster-role';
import type { BudgetSpec } from './connection-budget';
import { HandoverRescue } from './handover-rescue';
import { RestartBackoff } from './restart-backoff';

/** Where a worker is in its life, as `/status` shows it. */
export type WorkerState = 'starting' | 'ready' | 'not ready' | 'stopping' | 'exited';

/** One worker process the primary runs. */
interface WorkerEntry {
  readonly worker: Worker;
  readonly slot: number;
  state: WorkerState;
  readonly forkedAt: number;
  readyAt?: number;
  readyTimer?: NodeJS.Timeout;
  /** The primary asked it to stop (shutdown, rolling restart): its exit is no crash. */
  retiring: boolean;
  /** Its report before it left. */
  stopped?: { ok: boolean; graceful: number; forced: number };
  /** Killed at the shutdown deadline. */
  killed: boolean;
  /** Resolves when first ready; rejects if it exits or times out first. */
  readonly ready: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  markReady(): void;
  failReady(err: Error): void;
}

/** A place for one worker: a crash is replaced in the same slot, with the slot's backoff and share of the budget. */
interface Slot {
  readonly index: number;
  current?: WorkerEntry;
  restarts: number;
  readonly backoff: RestartBackoff;
  timer?: NodeJS.Timeout;
}

/** What `/status` shows of one worker. */
export interface WorkerInfo {
  id: number;
  pid: number | undefined;
  slot: number;
  state: WorkerState;
  uptimeSeconds: number;
  /** Workers this slot has had to replace after a crash. */
  restarts: number;
}

/** A worker's answer to a request, or why there was none. */
export type WorkerReply<T> = { info: WorkerInfo; value: T; error?: undefined } | { info: WorkerInfo; value?: undefined; error: string };

/** Figures the primary keeps for `/metrics`. */
export interface ClusterStats {
  restarts: number;
  scrapeFailures: number;
  /** Connections a dead worker was handed and never took, handed to a live worker (`HandoverRescue`). */
  readonly rescuedConnections: number;
  /** Such connections no live worker took: closed. */
  readonly droppedConnections: number;
}

/** What the supervisor needs from its application. */
export interface PrimaryHost {
  readonly logger: Logger;
  readonly clusterConfig: ClusterConfig;
  readonly shutdownConfig: ShutdownConfig;
  /** Called when the number of ready workers crosses `minReady`. */
  onReadiness(ready: boolean): void;
}

/** Margin (ms) over a worker's own shutdown deadline before the primary kills it. */
const KILL_MARGIN_MS = 5000;

/**
 * The `node:cluster` primary: forks `cluster.workers` workers running the same app file, keeps
 * them running (a crashed worker is replaced in its slot after a backoff), splits each pool's
 * `maxConnections` between the slots, answers for them all (scrapes and status through IPC),
 * stops them all on shutdown, and replaces them one at a time on a rolling restart.
 */
export class ClusterPrimary {
  private readonly rescue: HandoverRescue;
  readonly stats: ClusterStats;
  private readonly slots: Slot[] = [];
  private readonly live = new Set<WorkerEntry>();
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  private nextRequest = 1;
  private stopping: Promise<ShutdownResult> | undefined;
  private forceRequested = false;
  private rolling: Promise<{ replaced: number }> | undefined;
  private wasReady = false;
  /** The first start is under way: a worker that dies now fails it instead of being replaced. */
  private booting = false;

  constructor(private readonly host: PrimaryHost) {
    this.rescue = new HandoverRescue((dead) => this.takers(dead), host.logger);
    const rescue = this.rescue.stats;
    this.stats = {
      restarts: 0,
      scrapeFailures: 0,
      get rescuedConnections() {
        return rescue.rescued;
      },
      get droppedConnections() {
        return rescue.dropped;
      },
    };
    const config = host.clusterConfig;
    const count = workerCount(config);
    for (let i = 0; i < count; i++) this.slots.push({ index: i, restarts: 0, backoff: new RestartBackoff(config.restartDelay, config.maxRestartDelay, config.stableAfter) });
  }

  /** Workers that must be ready for `/readyz` to say ready. */
  get minReady(): number {
    return Math.min(this.host.clusterConfig.minReady, this.slots.length);
  }

  /** Workers ready now. */
  get readyCount(): number {
    let n = 0;
    for (const entry of this.live) if (entry.state === 'ready') n++;
    return n;
  }

  /** Ready while at least `minReady` workers are and no shutdown has begun. */
  get isReady(): boolean {
    return this.stopping === undefined && this.readyCount >= this.minReady;
  }

  /** Every worker process alive now (a slot being handed over has two), in slot order. */
  workers(): WorkerInfo[] {
    return [...this.live].sort((a, b) => a.slot - b.slot || a.worker.id - b.worker.id).map((e) => this.info(e));
  }

  /** Forks every worker and waits until each is ready; a worker that exits or is not ready in `readyTimeout` fails the start (the others are stopped). */
  async start(): Promise<void> {
    this.booting = true;
    const entries = this.slots.map((slot) => this.fork(slot, { slot: slot.index, slots: this.slots.length }));
    for (const [i, entry] of entries.entries()) this.slots[i].current = entry;
    try {
      await Promise.all(entries.map((e) => e.ready));
    } catch (err) {
      // The first worker that fails fails the boot: the others are stopped, none is replaced.
      await this.stop();
      throw err;
    } finally {
      this.booting = false;
    }
  }

  /** Workers that may take a connection a dead worker left: ready ones first, then those not ready (never starting or stopping ones: no listener). */
  private takers(dead: Worker): Worker[] {
    const entries = [...this.live].filter((e) => e.worker !== dead && e.worker.isConnected() && (e.state === 'ready' || e.state === 'not ready'));
    entries.sort((a, b) => Number(b.state === 'ready') - Number(a.state === 'ready'));
    return entries.map((e) => e.worker);
  }

  private fork(slot: Slot, budget: BudgetSpec): WorkerEntry {
    const worker = cluster.fork({ [WORKER_ENV]: String(slot.index + 1), [BUDGET_ENV]: JSON.stringify(budget) });
    this.rescue.watch(worker);
    let markReady!: () => void;
    let failReady!: (err: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    ready.catch(() => undefined); // also awaited where it matters
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => worker.once('exit', (code, signal) => resolve({ code, signal })));
    const entry: WorkerEntry = { worker, slot: slot.index, state: 'starting', forkedAt: Date.now(), retiring: false, killed: false, ready, exited, markReady, failReady };
    this.live.add(entry);
    const timeout = this.host.clusterConfig.readyTimeout;
    entry.readyTimer = setTimeout(() => {
      if (entry.state !== 'starting') return;
      this.host.logger.error({ worker: worker.id, pid: worker.process.pid, slot: slot.index, readyTimeoutMs: timeout }, 'cluster worker not ready in time: killing it');
      entry.failReady(new WorkerStartError(`worker ${worker.id} (slot ${slot.index}) was not ready within cluster.readyTimeout (${timeout} ms)`, slot.index));
      worker.process.kill('SIGKILL');
    }, timeout);
    worker.on('message', (msg: unknown) => this.onMessage(entry, msg));
    worker.once('exit', (code, signal) => this.onExit(slot, entry, code, signal));
    // A worker whose IPC channel breaks while it is being written to: the exit handler does the rest.
    worker.on('error', (err) => this.host.logger.warn({ err, worker: worker.id }, 'cluster worker channel error'));
    this.host.logger.info({ worker: worker.id, pid: worker.process.pid, slot: slot.index }, 'cluster worker forked');
    return entry;
  }

  private info(entry: WorkerEntry): WorkerInfo {
    return {
      id: entry.worker.id,
      pid: entry.worker.process.pid,
      slot: entry.slot,
      state: entry.state,
      uptimeSeconds: Math.round((Date.now() - entry.forkedAt) / 100) / 10,
      restarts: this.slots[entry.slot]?.restarts ?? 0,
    };
  }

  private onMessage(entry: WorkerEntry, msg: unknown): void {
    if (!isClusterMessage<WorkerMessage>(msg)) return;
    switch (msg.unipool) {
      case 'readiness': {
        if (entry.state === 'stopping' || entry.state === 'exited') return;
        entry.state = msg.ready ? 'ready' : entry.state === 'starting' ? 'starting' : 'not ready';
        if (msg.ready && entry.readyAt === undefined) {
          entry.readyAt = Date.now();
          clearTimeout(entry.readyTimer);
          this.host.logger.info({ worker: entry.worker.id, pid: entry.worker.process.pid, slot: entry.slot, bootMs: entry.readyAt - entry.forkedAt }, 'cluster worker ready');
          entry.markReady();
        }
        this.readinessMaybeChanged();
        return;
      }
      case 'reply': {
        const waiting = this.pending.get(msg.id);
        if (!waiting) return;
        this.pending.delete(msg.id);
        clearTimeout(waiting.timer);
        if (msg.error !== undefined) waiting.reject(new Error(msg.error));
        else waiting.resolve(msg.value);
        return;
      }
      case 'stopped':
        entry.stopped = { ok: msg.ok, graceful: msg.graceful, forced: msg.forced };
        return;
      case 'broadcast':
        for (const other of this.live) if (other !== entry && other.state !== 'exited') this.send(other, { unipool: 'broadcast', payload: msg.payload });
        return;
    }
  }

  private onExit(slot: Slot, entry: WorkerEntry, code: number | null, signal: string | null): void {
    clearTimeout(entry.readyTimer);
    const wasReady = entry.readyAt !== undefined;
    entry.state = 'exited';
    this.live.delete(entry);
    if (!wasReady) entry.failReady(new WorkerStartError(`worker ${entry.worker.id} (slot ${slot.index}) exited before it was ready (${signal ?? `code ${code}`})`, slot.index));
    this.readinessMaybeChanged();
    const fields = { worker: entry.worker.id, pid: entry.worker.process.pid, slot: slot.index, code, signal };
    if (entry.retiring || this.stopping || this.booting) {
      this.host.logger.info(fields, 'cluster worker exited');
      return;
    }
    if (slot.current !== entry) {
      // A replacement that failed to start during a rolling restart: the old worker still serves.
      this.host.logger.warn(fields, 'cluster worker exited before it took over its slot');
      return;
    }
    slot.current = undefined;
    const uptime = Date.now() - entry.forkedAt;
    const delay = slot.backoff.next(uptime);
    slot.restarts++;
    this.stats.restarts++;
    this.host.logger.error({ ...fields, uptimeMs: uptime, restartInMs: delay, crashesInARow: slot.backoff.crashes }, 'cluster worker died: replacing it');
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.stopping) return;
      slot.current = this.fork(slot, { slot: slot.index, slots: this.slots.length });
    }, delay);
  }

  private readinessMaybeChanged(): void {
    const ready = this.isReady;
    if (ready === this.wasReady) return;
    this.wasReady = ready;
    this.host.onReadiness(ready);
  }

  private send(entry: WorkerEntry, msg: PrimaryMessage): boolean {
    if (!entry.worker.isConnected()) return false;
    try {
      return entry.worker.send(msg);
    } catch {
      return false;
    }
  }

  /** Asks one worker; rejects after `timeoutMs` or if it cannot be asked. */
  private ask<T>(entry: WorkerEntry, msg: PrimaryMessage & { id: number }, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(msg.id);
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(msg.id, { resolve: resolve as (v: unknown) => void, reject, timer });
      if (!this.send(entry, msg)) {
        clearTimeout(timer);
        this.pending.delete(msg.id);
        reject(new Error('worker not connected'));
      }
    });
  }

  /** Asks every live worker (`metrics`, `status`, the dashboard's `frame`); each answers within `cluster.scrapeTimeout` or is reported with its error. */
  async collect<T>(what: 'metrics' | 'status' | 'frame'): Promise<Array<WorkerReply<T>>> {
    const entries = [...this.live].filter((e) => e.state !== 'starting').sort((a, b) => a.slot - b.slot || a.worker.id - b.worker.id);
    return Promise.all(
      entries.map(async (entry): Promise<WorkerReply<T>> => {
        try {
          const value = await this.ask<T>(entry, { unipool: 'request', id: this.nextRequest++, what }, this.host.clusterConfig.scrapeTimeout);
          return { info: this.info(entry), value };
        } catch (err) {
          this.stats.scrapeFailures++;
          return { info: this.info(entry), error: (err as Error).message };
        }
      }),
    );
  }

  /** Hands a validated config to every ready worker and collects what each applied. */
  async reload(config: Record<string, unknown>): Promise<Array<WorkerReply<{ ok: boolean; applied: string[]; restartRequired: string[]; problems: string[] }>>> {
    const entries = [...this.live].filter((e) => e.state === 'ready' || e.state === 'not ready');
    const timeoutMs = this.host.clusterConfig.readyTimeout;
    return Promise.all(
      entries.map(async (entry) => {
        try {
          const value = await this.ask<{ ok: boolean; applied: string[]; restartRequired: string[]; problems: string[] }>(entry, { unipool: 'reload', id: this.nextRequest++, config }, timeoutMs);
          return { info: this.info(entry), value };
        } catch (err) {
          return { info: this.info(entry), error: (err as Error).message };
        }
      }),
    );
  }

  /**
   * Replaces the workers one at a time: the old one lends part of its share, a new one is forked
   * and waited for until ready, then the old one drains and exits and the new one takes the
   * whole share. A replacement that does not start leaves the old worker serving and rejects.
   */
  restartWorkers(): Promise<{ replaced: number }> {
    this.rolling ??= this.roll().finally(() => (this.rolling = undefined));
    return this.rolling;
  }

  private async roll(): Promise<{ replaced: number }> {
    let replaced = 0;
    const full = (slot: Slot): BudgetSpec => ({ slot: slot.index, slots: this.slots.length });
    for (const slot of this.slots) {
      if (this.stopping) break;
      const old = slot.current;
      if (!old || old.state !== 'ready') continue;
      const held = await this.ask<Record<string, number>>(old, { unipool: 'request', id: this.nextRequest++, what: 'lend' }, this.host.clusterConfig.scrapeTimeout);
      const fresh = this.fork(slot, { ...full(slot), held });
      this.host.logger.info({ slot: slot.index, old: old.worker.id, new: fresh.worker.id }, 'rolling restart: replacing worker');
      try {
        await fresh.ready;
      } catch (err) {
        if (fresh.state !== 'exited') fresh.worker.process.kill('SIGKILL');
        this.send(old, { unipool: 'budget', budget: full(slot) });
        throw err;
      }
      slot.current = fresh;
      await this.retire(old, false);
      this.send(fresh, { unipool: 'budget', budget: full(slot) });
      replaced++;
    }
    this.host.logger.info({ replaced }, 'rolling restart done');
    return { replaced };
  }

  /** Deadline for a worker's own shutdown, plus a margin, after which it is killed. */
  private get killAfterMs(): number {
    const s = this.host.shutdownConfig;
    return s.drainDelay + s.timeout + 2 * s.hookTimeout + KILL_MARGIN_MS;
  }

  /** Asks a worker to drain and exit; kills it if it is still there after its deadline. */
  private async retire(entry: WorkerEntry, force: boolean): Promise<void> {
    entry.retiring = true;
    if (entry.state === 'exited') return;
    // A worker still booting has no handler yet: a signal ends it (nothing is admitted before it is ready).
    if (entry.state === 'starting' || !this.send(entry, { unipool: 'shutdown', force })) entry.worker.process.kill('SIGTERM');
    entry.state = 'stopping';
    this.readinessMaybeChanged();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.killAfterMs)));
    const outcome = await Promise.race([entry.exited, deadline]);
    clearTimeout(timer);
    if (outcome === 'late') {
      this.host.logger.error({ worker: entry.worker.id, pid: entry.worker.process.pid, afterMs: this.killAfterMs }, 'cluster worker did not exit after its shutdown deadline: killing it');
      entry.killed = true;
      entry.worker.process.kill('SIGKILL');
      await entry.exited;
    }
  }

  /**
   * Stops every worker (each runs its own five shutdown phases and exits) and resolves once all
   * have exited. Not ok when a worker had to force connections, failed, or was killed.
   */
  stop(options: { force?: boolean } = {}): Promise<ShutdownResult> {
    if (this.stopping) {
      if (options.force && !this.forceRequested) {
        this.forceRequested = true;
        for (const entry of this.live) this.send(entry, { unipool: 'shutdown', force: true });
      }
      return this.stopping;
    }
    this.forceRequested = options.force === true;
    const started = Date.now();
    this.stopping = Promise.resolve().then(async () => {
      this.readinessMaybeChanged();
      for (const slot of this.slots) clearTimeout(slot.timer);
      const entries = [...this.live];
      await Promise.all(entries.map((e) => this.retire(e, this.forceRequested)));
      for (const waiting of this.pending.values()) clearTimeout(waiting.timer);
      this.pending.clear();
      let graceful = 0;
      let forced = 0;
      let ok = true;
      for (const e of entries) {
        graceful += e.stopped?.graceful ?? 0;
        forced += e.stopped?.forced ?? 0;
        // A worker that was still starting, and was ended by a signal, held nothing.
        if (e.killed || (e.stopped ? !e.stopped.ok : e.readyAt !== undefined)) ok = false;
      }
      return { ok: ok && forced === 0, forcedByUser: this.forceRequested, phases: [], graceful, forced, errors: [], durationMs: Date.now() - started };
    });
    return this.stopping;
  }
}
