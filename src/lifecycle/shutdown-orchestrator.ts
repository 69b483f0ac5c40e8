import { performance } from 'node:perf_hooks';
import type { ShutdownConfig } from '../config/pool-config';
import type { ConnectionPoolManager } from '../core/connection-pool-manager';
import type { Logger } from '../core/logger';
import type { ManagedServer } from '../core/managed-server';
import type { UnipoolError } from '../errors';
import { runHook } from './hook-runner';

/** The shutdown phases, in order. */
export const SHUTDOWN_PHASES = ['readiness', 'stopAccepting', 'drain', 'force', 'hooks'] as const;
export type ShutdownPhase = (typeof SHUTDOWN_PHASES)[number];

/** Timing of one phase. */
export interface PhaseResult {
  phase: ShutdownPhase;
  durationMs: number;
}

/** What a shutdown did. `ok` is false if anything had to be forced or any hook failed. */
export interface ShutdownResult {
  ok: boolean;
  /** True when a second signal or `stop({ force: true })` cut the shutdown short (before its deadline), even with nothing left to force. */
  forcedByUser: boolean;
  phases: PhaseResult[];
  /** Connections that finished or closed on their own during the drain. */
  graceful: number;
  /** Connections destroyed at the deadline or by a forced stop. */
  forced: number;
  errors: UnipoolError[];
  durationMs: number;
}

/** What the orchestrator drives. */
export interface ShutdownTargets {
  servers: readonly ManagedServer[];
  pools: readonly ConnectionPoolManager<unknown>[];
  /** Every hook target in startup order (providers, pools, servers); onShutdown runs in reverse. */
  hookTargets: readonly object[];
  setReady(ready: boolean): void;
  onPhase(result: PhaseResult): void;
  /** Exports the last telemetry once the pools are destroyed (last step of the hooks phase); never rejects. */
  flushTelemetry?(): Promise<void>;
}

/**
 * Runs the five shutdown phases once for all servers: readiness off (+ drainDelay), stop
 * accepting, drain, force at the deadline, onShutdown hooks in reverse order of startup.
 */
export class ShutdownOrchestrator {
  /**
   * Set once the shutdown is forced (by the user or at the deadline). A plain latch with one
   * callback, not an AbortController: node loads AbortController and EventTarget on first use,
   * which in a process that never used them costs more than draining a hundred idle sockets.
   */
  private forcedNow = false;
  /** What the step under way does when the shutdown is forced (end `drainDelay`, destroy what the drain holds). */
  private onForce: (() => void) | undefined = undefined;

  constructor(
    private readonly config: ShutdownConfig,
    private readonly logger: Logger,
  ) {}

  /** Cuts the drain short: whatever is still open is destroyed now. */
  force(): void {
    // Asked before the deadline passed: the user cut the shutdown short, even if (during
    // drainDelay, or the hooks) nothing was left to force.
    if (!this.deadlinePassed) this.forceRequested = true;
    this.fire();
  }

  /** Forces the shutdown once: the step under way hears it. */
  private fire(): void {
    if (this.forcedNow) return;
    this.forcedNow = true;
    const onForce = this.onForce;
    this.onForce = undefined;
    onForce?.();
  }

  private forceRequested = false;
  private deadlinePassed = false;

  private record(targets: ShutdownTargets, result: PhaseResult, extra: Record<string, unknown> = {}): void {
    const level = result.phase === 'force' && (extra.forced as number) > 0 ? 'warn' : 'info';
    this.logger[level]({ phase: result.phase, durationMs: Math.round(result.durationMs * 10) / 10, ...extra }, 'shutdown phase done');
    targets.onPhase(result);
  }

  private async phase<T>(name: ShutdownPhase, targets: ShutdownTargets, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const value = await work();
    this.record(targets, { phase: name, durationMs: performance.now() - started });
    return value;
  }

  /** Waits `ms`, or less if the shutdown is forced. */
  private wait(ms: number): Promise<void> {
    if (ms <= 0 || this.forcedNow) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.onForce === done) this.onForce = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.onForce = done;
    });
  }

  async run(targets: ShutdownTargets): Promise<ShutdownResult> {
    const started = performance.now();
    const errors: UnipoolError[] = [];
    const phases: PhaseResult[] = [];
    const onPhase = targets.onPhase;
    const tracked: ShutdownTargets = { ...targets, onPhase: (r) => (phases.push(r), onPhase(r)) };
    const hookOptions = { timeoutMs: this.config.hookTimeout, logger: this.logger, collect: true };

    await this.phase('readiness', tracked, async () => {
      targets.setReady(false);
      await this.wait(this.config.drainDelay);
    });

    await this.phase('stopAccepting', tracked, async () => {
      errors.push(...(await runHook(targets.hookTargets, 'beforeShutdown', hookOptions)));
      await Promise.all(targets.servers.map((s) => s.stopAccepting()));
    });

    let deadlineAt: number | undefined;
    const deadline = setTimeout(() => {
      this.deadlinePassed = true;
      deadlineAt = performance.now();
      this.fire();
    }, this.config.timeout);
    let forcedByUser = false;
    const onUserForce = (): void => {
      if (deadlineAt === undefined) {
        forcedByUser = true;
        deadlineAt = performance.now();
      }
    };
    const forcedBeforeDrain = this.forcedNow;
    if (forcedBeforeDrain) onUserForce();

    const drainStarted = performance.now();
    const pools = targets.pools;
    const drains = pools.map((p) => p.drain());
    // Forced (now, or when the deadline or the user says so): each pool destroys what it still holds.
    const forceAll = (): void => {
      onUserForce();
      for (const pool of pools) pool.forceAll();
    };
    if (forcedBeforeDrain) forceAll();
    else this.onForce = forceAll;
    const results = await Promise.all(drains);
    const drainEnded = performance.now();
    clearTimeout(deadline);
    if (this.onForce === forceAll) this.onForce = undefined;
    const graceful = results.reduce((n, r) => n + r.graceful, 0);
    const forced = results.reduce((n, r) => n + r.forced, 0);
    // The drain phase ends when the pools are empty or at the deadline; the force phase runs
    // from the deadline (if one was hit) until the last server has closed.
    const forceStarted = deadlineAt ?? drainEnded;
    this.record(tracked, { phase: 'drain', durationMs: forceStarted - drainStarted }, { graceful });
    await Promise.all(targets.servers.map((s) => s.close()));
    this.record(tracked, { phase: 'force', durationMs: performance.now() - forceStarted }, { forced });

    await this.phase('hooks', tracked, async () => {
      errors.push(...(await runHook([...targets.hookTargets].reverse(), 'onShutdown', hookOptions)));
      for (const pool of targets.pools) pool.destroy();
      await targets.flushTelemetry?.();
    });

    return {
      ok: errors.length === 0 && forced === 0,
      forcedByUser: forcedByUser || this.forceRequested,
      phases,
      graceful,
      forced,
      errors,
      durationMs: performance.now() - started,
    };
  }
}
