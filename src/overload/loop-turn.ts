/** Schedules a callback for the end of the current event-loop turn (default: `setImmediate`). */
export type TurnScheduler = (fn: () => void) => NodeJS.Immediate;

/**
 * The current event-loop turn as admission sees it: how long it has run, and how many units
 * admitted in it have already ended.
 *
 * Node runs every socket that became readable in one turn (one poll phase), back to back. A
 * CPU-bound synchronous handler therefore never has more than one unit in flight: its queue is
 * the rest of the turn. The units admitted earlier in the same turn ran before this one (it
 * waited for them: its bytes were there when the turn began), so they are the work ahead of it
 * even once they have ended (`done`), and `elapsed` is a lower bound of its queueing delay;
 * both known at once, per request, with no timer sampling.
 *
 * The first unit of a turn stamps the turn's start and schedules one `setImmediate` (the check
 * phase, right after the poll phase), which ends the turn: one callback per turn that had work,
 * none per unit, none while idle.
 */
export class LoopTurn {
  /** When the current turn's first unit asked (ms); -1 between turns. */
  private startedAt = -1;
  /** Units admitted in the current turn that have ended in it. */
  done = 0;
  private pending: NodeJS.Immediate | undefined;
  private readonly schedule: TurnScheduler;
  private readonly end = (): void => {
    this.startedAt = -1;
    this.done = 0;
    this.pending = undefined;
  };

  constructor(schedule?: TurnScheduler) {
    // Resolved per call, so fake timers installed after construction still apply.
    this.schedule = schedule ?? ((fn) => setImmediate(fn));
  }

  /** ms the current turn has run before `now` (0 for its first unit, which starts it). */
  elapsed(now: number): number {
    const startedAt = this.startedAt;
    if (startedAt >= 0) return now > startedAt ? now - startedAt : 0;
    this.startedAt = now;
    this.pending = this.schedule(this.end);
    return 0;
  }

  /** A unit that arrived at `startedAt` ended: counted in `done` if it was admitted in this turn (returns whether). */
  ended(startedAt: number): boolean {
    const turnStart = this.startedAt;
    if (turnStart < 0 || startedAt < turnStart) return false;
    this.done++;
    return true;
  }

  /** Cancels the pending end-of-turn callback (nothing stays scheduled). */
  close(): void {
    if (this.pending !== undefined) clearImmediate(this.pending);
    this.end();
  }
}
