import { LatencyHistogram, LATENCY_BUCKETS_MS } from '../core/latency-histogram';
import { AdmissionQueue, type Waiter } from './admission-queue';
import { createLimiter } from './create-limiter';
import type { Limiter } from './limiter';
import { LoopTurn, type TurnScheduler } from './loop-turn';
import type { OverloadConfig } from './overload-config';
import { PressureLevel } from './pressure-level';
import { PressureMonitor, pressureConfigured, type PressureSnapshot } from './pressure-monitor';
import { delayBeyondResolutionMs, type PressureSources } from './pressure-sources';
import { SampleWindow } from './sample-window';
import { SHED_REASONS, type ShedReason } from './shed-reason';
import type { WorkPriority } from './work-priority';

/** What `acquire` decided: run now, wait in the queue (the waiter hears later), or shed at once (why). */
export type AdmissionOutcome = 'admit' | 'queued' | ShedReason;

/**
 * The admission strategy a pool manager calls for each unit of work (HTTP request, gRPC call,
 * WebSocket message handler). Pure bookkeeping: every timestamp is the pool's own monotonic
 * clock read (`performance.now()` ms), passed in; nothing allocates per unit of work.
 */
export interface AdmissionStrategy {
  /** Current limit of units in flight (`Infinity` when nothing limits). */
  readonly limit: number;
  /** Units admitted and not yet released. */
  readonly inflight: number;
  /** Units waiting in the queue. */
  readonly queued: number;
  /** Current pressure level (graded actions: close keep-alive, refuse connections, shed work). */
  readonly pressureLevel: PressureLevel;
  /**
   * Asks to start one unit of work that arrived at `now`. `'admit'`: run it (and `release` it
   * later). `'queued'`: `waiter` waits; it hears `onAdmitted` (run it, then `release`) or
   * `onShed`. Any other value: shed it now, for that reason. `waiter` null: the unit cannot wait.
   * `queuedSince`: when it started waiting, if it already waited elsewhere (default `now`).
   */
  acquire(waiter: Waiter | null, priority: WorkPriority, now: number, queuedSince?: number): AdmissionOutcome;
  /** A unit admitted ends: `startedAt` is when it arrived (so queue wait counts), `failed` a drop (error, timeout). */
  release(startedAt: number, now: number, failed: boolean): void;
  /** A queued unit's client went away; returns whether it was still queued. */
  cancel(waiter: Waiter): boolean;
}

/** Options of an `AdmissionController`. */
export interface AdmissionControllerOptions {
  /** Monotonic clock (ms) for the timers (queue timeout, pressure interval); default `performance.now`. */
  clock?: () => number;
  /** Sources of the pressure monitor (tests). */
  pressureSources?: PressureSources;
  /** Random numbers for Vegas's probe jitter (tests). */
  random?: () => number;
  /** Schedules the end of an event-loop turn (default `setImmediate`; tests). */
  scheduleTurnEnd?: TurnScheduler;
  /** The limit changed (for `LimitChanged` events once wired). */
  onLimitChanged?(limit: number, previous: number): void;
  /** The pressure level changed (for `PressureChanged` events once wired). */
  onPressureChanged?(level: PressureLevel, previous: PressureLevel, snapshot: Readonly<PressureSnapshot>): void;
  /** A queued unit threw as it was admitted (its slot is given back); default: a process warning. */
  onWaiterError?(err: unknown): void;
  /** A unit was shed (for `WorkShed` events once wired); for queued units, after their `onShed`. */
  onShed?(reason: ShedReason, priority: WorkPriority): void;
}

/** Units shed, by reason. */
export type ShedCounts = Record<ShedReason, number>;

/**
 * Admission as a strategy object: a concurrency limiter (static or adaptive), a bounded queue,
 * process pressure and priority, behind the `AdmissionStrategy` interface the pool manager calls.
 *
 * - Over the limit, work waits in the queue if there is one (`queue_full` when it is full,
 *   `queue_timeout` when it waited too long), else it is shed (`limit`).
 * - At pressure level `ShedWork`, normal work is shed (`pressure`).
 * - Critical work is shed last: pressure never sheds it, the (adaptive) limit does not apply to
 *   it, only `maxLimit` does, and it never waits behind normal work.
 * - A CPU-bound synchronous handler never has more than one unit in flight: its queue is the
 *   event loop. Every limiter therefore counts the work ahead in the current loop turn
 *   (`LoopTurn`): units admitted earlier in the turn hold their place against the limit until
 *   the turn ends, even once they have ended (they ran before this one), so a turn admits at
 *   most `limit` units and sheds the rest at once. Without that, a sampled signal (500 ms) lets
 *   a 4x overload admit everything for a whole interval (latency grows by 1.5 s) and then shed
 *   everything for the next: on-off, half the goodput. (Counting the turn's elapsed time in
 *   units of the average unit time instead failed under load: a unit's time runs to its
 *   response's `finish`, which a long turn delays, so longer turns looked like fewer units.)
 * - Adaptive limiters see the waiting in their samples too: each RTT sample is the unit's own
 *   time plus its turn wait plus the event-loop delay the turns did not show (timers, GC,
 *   another process on the core); units in flight count the turn's units done and, for that
 *   unexplained delay, the backlog by Little's law (arrival rate x delay, refreshed at each
 *   pressure sample), both when sampling and when admitting.
 */
export class AdmissionController implements AdmissionStrategy {
  inflight = 0;
  /** Units shed so far, by reason. */
  readonly shed: ShedCounts = { limit: 0, queue_full: 0, queue_timeout: 0, pressure: 0 };
  /** Time (ms) queued units waited before they were admitted. */
  readonly queueWait = new LatencyHistogram(LATENCY_BUCKETS_MS);
  /** Last event-loop delay (ms) seen, beyond the histogram's sampling interval. */
  loopDelayMs = 0;
  /** Part of the last event-loop delay (ms) longer than any loop turn admissions saw: waiting the turns do not show. */
  unexplainedDelayMs = 0;
  /** Estimated units waiting in the event loop for that unexplained delay, by Little's law (adaptive limiters only). */
  backlog = 0;
  /** Turn wait (ms) of the last unit admitted at once. */
  turnWaitMs = 0;
  /** Whether a unit has ended yet: turns are tracked from then on (before, every admitted unit is still in flight). */
  private released = false;
  pressureLevel = PressureLevel.None;
  private readonly limiter: Limiter | undefined;
  private readonly adaptive: boolean;
  private readonly window: SampleWindow | undefined;
  private readonly queue: AdmissionQueue | undefined;
  private readonly monitor: PressureMonitor | undefined;
  private readonly maxLimit: number;
  /** Which graded actions the config turns on (an action at 0 is off even when a higher level is reached). */
  private readonly actionsOn: readonly boolean[];
  /** The limiter's name (`static`, `gradient2`...). */
  readonly kind: string;
  private arrivals = 0;
  private arrivalsSince = -1;
  /** Event-loop turns, when a limiter is set. */
  private readonly turn: LoopTurn | undefined;
  /** The queue's timeout (ms), for units carried over from a replaced controller. */
  private readonly queueTimeoutMs: number;
  /** Longest turn wait (ms) seen since the last pressure sample. */
  private turnMaxMs = 0;

  constructor(
    config: OverloadConfig,
    private readonly options: AdmissionControllerOptions = {},
  ) {
    this.kind = config.limiter;
    this.actionsOn = [false, config.actions.closeKeepAlive > 0, config.actions.refuseConnections > 0, config.actions.shedWork > 0];
    this.limiter = createLimiter(config, options.random);
    if (this.limiter) this.turn = new LoopTurn(options.scheduleTurnEnd);
    this.adaptive = this.limiter !== undefined && config.limiter !== 'static';
    this.maxLimit = config.limiter === 'static' ? Math.max(config.maxConcurrency, config.maxLimit) : config.maxLimit;
    if (this.adaptive) this.window = new SampleWindow(this.limiter!, config.sampleWindow, config.minSamples);
    this.queueTimeoutMs = config.queue.timeout;
    if (this.limiter && config.queue.size > 0) {
      this.queue = new AdmissionQueue({ ...config.queue, clock: options.clock, onExpired: (waiter, now) => this.shedQueued(waiter, 'queue_timeout', now) });
    }
    if (pressureConfigured(config.pressure) || this.adaptive) {
      this.monitor = new PressureMonitor(config.pressure, config.actions, {
        sources: options.pressureSources,
        clock: options.clock,
        trackEventLoopDelay: this.adaptive,
        onChange: (level, previous, snapshot) => {
          this.pressureLevel = level;
          options.onPressureChanged?.(level, previous, snapshot);
        },
        // The delay beyond the histogram's own interval: an idle loop is no backlog.
        onSample: (snapshot) => this.observeLoopDelay(delayBeyondResolutionMs(snapshot.eventLoopDelayMs, this.monitor!.delayResolutionMs), snapshot.at),
      });
    }
  }

  get limit(): number {
    return this.limiter ? this.limiter.limit : Infinity;
  }

  /** The pressure monitor's last sample, or `undefined` without a monitor (no signal configured, no adaptive limiter). */
  get pressure(): Readonly<PressureSnapshot> | undefined {
    return this.monitor?.snapshot;
  }

  get queued(): number {
    return this.queue ? this.queue.length : 0;
  }

  /** Starts the pressure monitor, if the config needs one. */
  start(): void {
    this.monitor?.start();
  }

  /** Stops the monitor and the queue timer; hands back the waiters still queued for the caller to answer (with `since`: when each was queued). */
  close(since?: number[]): Waiter[] {
    this.monitor?.close();
    this.turn?.close();
    return this.queue ? this.queue.close(since) : [];
  }

  /** Closes the controller and starts every unit still queued (admission was turned off: nothing limits them any more). */
  closeAdmittingAll(now: number): void {
    for (const waiter of this.close()) this.startQueued(waiter, now);
  }

  acquire(waiter: Waiter | null, priority: WorkPriority, now: number, queuedSince = now): AdmissionOutcome {
    this.arrivals++;
    if (priority === 'critical') {
      if (this.inflight < this.maxLimit) return this.admit();
      return this.count('limit', priority);
    }
    if (this.pressureLevel >= PressureLevel.ShedWork && this.actionsOn[PressureLevel.ShedWork]) return this.count('pressure', priority);
    const limiter = this.limiter;
    if (!limiter) return this.admit();
    // Units admitted earlier in this loop turn and already ended are still ahead of this one.
    let wait = 0;
    let done = 0;
    if (this.released) {
      const turn = this.turn!;
      wait = turn.elapsed(now);
      done = turn.done;
      if (wait > this.turnMaxMs) this.turnMaxMs = wait;
    }
    if (this.queued === 0 && this.inflight + done + this.backlog < limiter.limit) {
      this.turnWaitMs = wait;
      return this.admit();
    }
    if (!this.queue || !waiter) return this.count('limit', priority);
    const left = this.queue.push(waiter, queuedSince);
    if (left === waiter) return this.count('queue_full', priority);
    if (left) this.shedQueued(left, 'queue_full', now);
    return 'queued';
  }

  release(startedAt: number, now: number, failed: boolean): void {
    const inflight = this.inflight;
    // Never below 0: a unit admitted before this controller existed (a reload that turned a
    // limiter on) ends here too.
    if (inflight > 0) this.inflight = inflight - 1;
    const turn = this.turn;
    if (turn) {
      this.released = true;
      // This unit counts once: in flight, or among the turn's units done.
      const inTurn = turn.ended(startedAt) ? 1 : 0;
      if (this.window) {
        const previous = this.limiter!.limit;
        if (this.window.add(now, now - startedAt + this.turnWaitMs + this.unexplainedDelayMs, inflight - inTurn + turn.done + this.backlog, failed) && this.limiter!.limit !== previous) {
          this.options.onLimitChanged?.(this.limiter!.limit, previous);
        }
      }
    }
    if (this.queue && this.queue.length > 0) this.admitQueued(now);
  }

  cancel(waiter: Waiter): boolean {
    return this.queue ? this.queue.remove(waiter) : false;
  }

  /**
   * Event-loop delay (ms) measured at `now` (the pressure monitor calls this at each sample).
   * The part of it longer than any loop turn seen since the last call (waiting the turns did
   * not show: timers, GC, the core lent to another process) is added to every RTT sample, and
   * with the arrival rate since the last call it gives the backlog waiting for it. Delay the
   * turns did show is counted per unit already (see the class).
   */
  observeLoopDelay(delayMs: number, now: number): void {
    this.loopDelayMs = delayMs;
    const unexplained = delayMs > this.turnMaxMs ? delayMs - this.turnMaxMs : 0;
    this.turnMaxMs = 0;
    this.unexplainedDelayMs = unexplained;
    if (!this.adaptive) return;
    const elapsed = now - this.arrivalsSince;
    if (this.arrivalsSince >= 0 && elapsed > 0) this.backlog = (this.arrivals / elapsed) * unexplained;
    this.arrivals = 0;
    this.arrivalsSince = now;
    if (this.queue && this.queue.length > 0) this.admitQueued(now);
  }

  /**
   * Takes over from the controller this one replaces (a live config change): its units in flight
   * (they release here) and its queued units, which are admitted, queued or shed by this one's
   * rules, in their order, keeping the time they were queued (a reload does not restart their
   * timeout). The old one is closed.
   */
  adopt(previous: AdmissionController, now: number): void {
    this.inflight += previous.inflight;
    previous.inflight = 0;
    // Counters carry over: a reload is not a restart. The level does not: this controller's own
    // monitor (if its config has one) sets it at its first sample; a copied level would stick,
    // since a monitor reports only the changes of its own level.
    for (const reason of SHED_REASONS) this.shed[reason] += previous.shed[reason];
    this.queueWait.merge(previous.queueWait);
    const since: number[] = [];
    const waiters = previous.close(since);
    for (let i = 0; i < waiters.length; i++) {
      const waiter = waiters[i];
      // Already past this config's queue timeout: shed as the queue would have, not admitted.
      if (this.queue && since[i] + this.queueTimeoutMs <= now) {
        this.shedQueued(waiter, 'queue_timeout', now);
        continue;
      }
      const outcome = this.acquire(waiter, 'normal', now, since[i]);
      if (outcome === 'admit') {
        this.queueWait.observe(Math.max(0, now - since[i]));
        this.startQueued(waiter, now);
      }
      else if (outcome !== 'queued') waiter.onShed(outcome, now);
    }
  }

  /**
   * Whether a graded action is in force: the level reached it and the config turns it on (with
   * `refuseConnections: 0`, reaching `ShedWork` sheds work but refuses no connection).
   */
  acts(action: PressureLevel): boolean {
    return this.pressureLevel >= action && this.actionsOn[action];
  }

  /** Sets the pressure level (the controller's own monitor does; a shared monitor may). */
  setPressureLevel(level: PressureLevel): void {
    this.pressureLevel = level;
  }

  private admit(): 'admit' {
    this.inflight++;
    return 'admit';
  }

  private admitQueued(now: number): void {
    const limit = this.limiter!.limit;
    while (this.inflight + this.backlog < limit) {
      const queue = this.queue!;
      const since = queue.nextWaitingSince();
      const waiter = queue.shift();
      if (!waiter) return;
      this.inflight++;
      this.queueWait.observe(Math.max(0, now - since));
      this.startQueued(waiter, now);
    }
  }

  /**
   * Runs a waiter admitted from the queue. It runs inside another unit's release (its response
   * finishing): one that throws gives its slot back and is reported, never thrown into that path.
   */
  private startQueued(waiter: Waiter, now: number): void {
    try {
      waiter.onAdmitted(now);
    } catch (err) {
      if (this.inflight > 0) this.inflight--;
      if (this.options.onWaiterError) this.options.onWaiterError(err);
      else process.emitWarning(`queued unit of work failed to start: ${err instanceof Error ? err.message : String(err)}`, { code: 'UNIPOOL_ADMISSION_WAITER' });
    }
  }

  /** `count` admitted units will never be released (their connection closed under them): their slots go back, without a sample. */
  abandon(count: number, now: number): void {
    this.inflight = Math.max(0, this.inflight - count);
    if (this.queue && this.queue.length > 0) this.admitQueued(now);
  }

  /** Counts a unit shed outside `acquire` (a streaming call shed for pressure). */
  countShed(reason: ShedReason, priority: WorkPriority): void {
    this.count(reason, priority);
  }

  /** Units shed so far, all reasons. */
  get shedTotal(): number {
    const s = this.shed;
    return s.limit + s.queue_full + s.queue_timeout + s.pressure;
  }

  private count(reason: ShedReason, priority: WorkPriority): ShedReason {
    this.shed[reason]++;
    this.options.onShed?.(reason, priority);
    return reason;
  }

  private shedQueued(waiter: Waiter, reason: ShedReason, now: number): void {
    waiter.onShed(reason, now);
    this.count(reason, 'normal');
  }
}
