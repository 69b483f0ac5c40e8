import type { ShedReason, Waiter } from '../../src/overload';

/** A unit of work that records what the admission queue or controller decided for it. */
export class QueuedWork implements Waiter {
  waitPrev: Waiter | null = null;
  waitNext: Waiter | null = null;
  waitingSince = -1;
  admittedAt = -1;
  shedFor: ShedReason | undefined;
  constructor(readonly name = '') {}
  onAdmitted(now: number): void {
    this.admittedAt = now;
  }
  onShed(reason: ShedReason): void {
    this.shedFor = reason;
  }
}
