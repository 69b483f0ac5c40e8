import type { QueueOrder } from './overload-config';
import type { ShedReason } from './shed-reason';

/**
 * A unit of work waiting for admission. The queue links waiters through their own fields (an
 * intrusive list), so queueing allocates nothing and cancelling is O(1); an object of the pool
 * (a request's record) can be its own waiter.
 */
export interface Waiter {
  /** Owned by the queue. */
  waitPrev: Waiter | null;
  /** Owned by the queue. */
  waitNext: Waiter | null;
  /** When it entered the queue (the owner's monotonic clock, ms); -1 while not queued. */
  waitingSince: number;
  /** It leaves the queue admitted: run it now. */
  onAdmitted(now: number): void;
  /** It leaves the queue shed: answer it in the protocol's terms. */
  onShed(reason: ShedReason, now: number): void;
}

/** Settings of an `AdmissionQueue`. */
export interface AdmissionQueueOptions {
  size: number;
  /** Longest wait (ms). */
  timeout: number;
  order: QueueOrder;
  /** Monotonic clock (ms) read when the timer fires; default `performance.now`. */
  clock?: () => number;
  /** A waiter timed out and was taken off the queue (its owner sheds it). */
  onExpired(waiter: Waiter, now: number): void;
}

/**
 * Bounded waiting room for work over the limit. Entries are kept oldest first, so timeouts
 * expire from the head in order with one timer for the whole queue (armed for the oldest
 * entry's deadline, never one per entry). `fifo` admits the oldest, `lifo` the newest.
 * Enqueue, dequeue and cancel are O(1).
 */
export class AdmissionQueue {
  private head: Waiter | null = null;
  private tail: Waiter | null = null;
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly clock: () => number;

  constructor(private readonly options: AdmissionQueueOptions) {
    this.clock = options.clock ?? (() => performance.now());
  }

  /** Waiters queued now. */
  get length(): number {
    return this.count;
  }

  /**
   * Queues `waiter` at `now`. Returns `null` when it was queued with room to spare; otherwise the
   * waiter that did not keep its place, for the caller to shed as `queue_full`: the newcomer
   * itself (`fifo`, or a queue of size 0) or the oldest entry, evicted to make room (`lifo`:
   * the oldest is the likeliest to time out anyway).
   */
  push(waiter: Waiter, now: number): Waiter | null {
    if (this.count >= this.options.size) {
      if (this.options.order === 'fifo' || this.count === 0) return waiter;
      const oldest = this.head!;
      this.unlink(oldest);
      this.append(waiter, now);
      return oldest;
    }
    this.append(waiter, now);
    return null;
  }

  /** When the next waiter `shift` would take entered the queue (-1 when empty). */
  nextWaitingSince(): number {
    const waiter = this.options.order === 'fifo' ? this.head : this.tail;
    return waiter ? waiter.waitingSince : -1;
  }

  /** Takes the next waiter to admit (`fifo`: oldest, `lifo`: newest), or `null` when empty. */
  shift(): Waiter | null {
    const waiter = this.options.order === 'fifo' ? this.head : this.tail;
    if (waiter) this.unlink(waiter);
    return waiter;
  }

  /** Takes `waiter` out (its client went away); returns whether it was queued. */
  remove(waiter: Waiter): boolean {
    if (waiter.waitingSince < 0) return false;
    this.unlink(waiter);
    return true;
  }

  /** Hands every waiter whose deadline has passed at `now` to `onExpired`, oldest first. */
  expire(now: number): void {
    const timeout = this.options.timeout;
    while (this.head && this.head.waitingSince + timeout <= now) {
      const waiter = this.head;
      this.unlink(waiter);
      this.options.onExpired(waiter, now);
    }
    this.arm();
  }

  /**
   * Stops the timer and empties the queue, handing back the waiters (oldest first) for the
   * caller to shed or carry over; with `since`, the time each entered the queue, in the same order.
   */
  close(since?: number[]): Waiter[] {
    const left: Waiter[] = [];
    while (this.head) {
      const waiter = this.head;
      since?.push(waiter.waitingSince);
      this.unlink(waiter);
      left.push(waiter);
    }
    this.disarm();
    return left;
  }

  private append(waiter: Waiter, now: number): void {
    waiter.waitingSince = now;
    waiter.waitNext = null;
    waiter.waitPrev = this.tail;
    if (this.tail) this.tail.waitNext = waiter;
    else this.head = waiter;
    this.tail = waiter;
    this.count++;
    if (this.timer === undefined) this.arm();
  }

  private unlink(waiter: Waiter): void {
    if (waiter.waitPrev) waiter.waitPrev.waitNext = waiter.waitNext;
    else this.head = waiter.waitNext;
    if (waiter.waitNext) waiter.waitNext.waitPrev = waiter.waitPrev;
    else this.tail = waiter.waitPrev;
    waiter.waitPrev = null;
    waiter.waitNext = null;
    waiter.waitingSince = -1;
    this.count--;
    if (this.count === 0) this.disarm();
  }

  /** Arms the one timer for the oldest entry's deadline (a removed head only makes it fire early and re-arm). */
  private arm(): void {
    this.disarm();
    if (!this.head) return;
    const delay = Math.max(0, this.head.waitingSince + this.options.timeout - this.clock());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.expire(this.clock());
    }, Math.ceil(delay));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
