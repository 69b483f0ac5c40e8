import type { Limiter } from './limiter';

/** A window short of `minSamples` keeps gathering up to this many times `windowMs`, then is dropped. */
const MAX_WINDOWS = 10;

/** Samples shorter than this (ms) say nothing about queueing (Netflix `WindowedLimit`: 100 us). */
export const MIN_RTT_MS = 0.1;

/**
 * Averages per-unit samples over a time window before the limiter sees them, as Netflix
 * concurrency-limits `limit/WindowedLimit.java` with `window/ImmutableAverageSampleWindow.java`
 * does: the limiter gets the window's average RTT, its most units in flight and whether any unit
 * dropped, once the window has lasted `windowMs` and holds `minSamples`. Plain fields, no
 * allocation per sample. A window that has lasted `windowMs` with fewer than `minSamples` keeps
 * gathering (up to 10 x `windowMs`), so a pool that serves few units a second still feeds its
 * limiter.
 */
export class SampleWindow {
  private sum = 0;
  private count = 0;
  private maxInflight = 0;
  private dropped = false;
  private closesAt = -1;
  private startedAt = 0;

  constructor(
    private readonly limiter: Limiter,
    private readonly windowMs: number,
    private readonly minSamples: number,
  ) {}

  /** Adds one unit's sample taken at `now`; returns whether a window closed into the limiter. */
  add(now: number, rttMs: number, inflight: number, dropped: boolean): boolean {
    if (rttMs < MIN_RTT_MS) return false;
    if (this.closesAt < 0) {
      this.closesAt = now + this.windowMs;
      this.startedAt = now;
    }
    this.sum += rttMs;
    this.count++;
    if (inflight > this.maxInflight) this.maxInflight = inflight;
    if (dropped) this.dropped = true;
    if (now < this.closesAt) return false;
    const ready = this.count >= this.minSamples;
    // Short of samples (a slow pool: 50 in flight at 1 s each is 50 a second): keep gathering,
    // up to MAX_WINDOWS windows, so the limiter still hears of it.
    if (!ready && now < this.startedAt + this.windowMs * MAX_WINDOWS) return false;
    if (ready) this.limiter.onSample(this.sum / this.count, this.maxInflight, this.dropped);
    this.sum = 0;
    this.count = 0;
    this.maxInflight = 0;
    this.dropped = false;
    this.closesAt = now + this.windowMs;
    this.startedAt = now;
    return ready;
  }
}
