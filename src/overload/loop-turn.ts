/** Schedules a callback for the end of the current event-loop turn (default: `setImmediate`). */
export type TurnScheduler = (fn: () => void) => NodeJS.Immediate;

/**
 * How long the current event-loop turn has run when a unit of work asks for admission.
 *
 * Node runs every socket that became readable in one turn (one poll phase), back to back. A
 * CPU-bound synchronous handler therefore never has more than one unit in flight: its queue is
 * the rest of the turn. A request whose handler would start `elapsed` ms after the turn's first
 * one has waited at least that long (its bytes were there when the turn began), so `elapsed`
 * is a lower bound of its queueing delay, known at once, per request, with no timer sampling.
 *
 * The first unit of a turn stamps the turn's start and schedules one `setImmediate` (the check
 * phase, right after the poll phase), which ends the turn: one callback per turn that had work,
 * none per unit, none while idle.
 */
export class LoopTurn {
  /** When the current turn's first unit asked (ms); -1 between turns. */
  private startedAt = -1;
  private pending: NodeJS.Immediate | undefined;
  private readonly schedule: TurnScheduler;
  private readonly end = (): void => {
    this.startedAt = -1;
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

  /** Cancels the pending end-of-turn callback (nothing stays scheduled). */
  close(): void {
    if (this.pending !== undefined) clearImmediate(this.pending);
    this.end();
  }
}
