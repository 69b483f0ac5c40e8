import { performance } from 'node:perf_hooks';
import type { DrainResult } from './pool-types';

/**
 * One drain of a pool, from `drain()` until its last connection is gone: counts connections that
 * leave gracefully or forced, holds the deadline timer and the abort listener, and settles the
 * drain's promise once (`finish`, idempotent). The pool starts it, drains each connection, and
 * reports every removal (`count`).
 */
export class DrainRun {
  graceful = 0;
  forced = 0;
  /** Resolves when the drain is over, with the counts and how long it took. */
  readonly promise: Promise<DrainResult>;
  private resolve!: (result: DrainResult) => void;
  private readonly startedAt = performance.now();
  private timer: NodeJS.Timeout | undefined = undefined;
  private signal: AbortSignal | undefined = undefined;
  private onAbort: (() => void) | undefined = undefined;

  /** `onFinished` hears the result (the `DrainFinished` event) before the promise resolves. */
  constructor(private readonly onFinished: (result: DrainResult) => void) {
    this.promise = new Promise<DrainResult>((resolve) => (this.resolve = resolve));
  }

  /** Whether connections that leave still count towards this drain (a field: read once per removal). */
  open = true;

  /** One connection left the pool while draining. */
  count(forced: boolean): void {
    if (forced) this.forced++;
    else this.graceful++;
  }

  /** Calls `force` (destroy what is left) at `timeoutMs`, if given, or when `signal` aborts. */
  arm(timeoutMs: number | undefined, signal: AbortSignal | undefined, force: () => void): void {
    if (timeoutMs !== undefined) this.timer = setTimeout(force, timeoutMs);
    if (signal) {
      this.signal = signal;
      this.onAbort = force;
      signal.addEventListener('abort', force, { once: true });
    }
  }

  /** The drain is over: stops the timer, drops the abort listener, reports and resolves (once). */
  finish(): void {
    if (!this.open) return;
    this.open = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    const result: DrainResult = { graceful: this.graceful, forced: this.forced, durationMs: performance.now() - this.startedAt };
    this.onFinished(result);
    this.resolve(result);
  }
}
