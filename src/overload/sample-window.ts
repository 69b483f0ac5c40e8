import type { Limiter } from './limiter';

/** Samples shorter than this (ms) say nothing about queueing (Netflix `WindowedLimit`: 100 us). */
export const MIN_RTT_MS = 0.1;

/**
 * Averages per-unit samples over a time window before the limiter sees them, as Netflix
 * concurrency-limits `limit/WindowedLimit.java` with `window/ImmutableAverageSampleWindow.java`
 * does: the limiter gets the window's average RTT, its most units in flight and whether any unit
 * dropped, once the window has lasted `windowMs` and holds `minSamples`. Plain fields, no
 * allocation per sample.
 */
export class SampleWindow {
  private sum = 0;
  private count = 0;
  private maxInflight = 0;
  private dropped = false;
  private closesAt = -1;

  constructor(
    private readonly limiter: Limiter,
    private readonly windowMs: number,
    private readonly minSamples: number,
  ) {}

  /** Adds one unit's sample taken at `now`; returns whether a window closed into the limiter. */
  add(now: number, rttMs: number, inflight: number, dropped: boolean): boolean {
    if (rttMs < MIN_RTT_MS) return false;
    if (this.closesAt < 0) this.closesAt = now + this.windowMs;
    this.sum += rttMs;
    this.count++;
    if (inflight > this.maxInflight) this.maxInflight = inflight;
    if (dropped) this.dropped = true;
    if (now < this.closesAt) return false;
    const ready = this.count >= this.minSamples;
    if (ready) this.limiter.onSample(this.sum / this.count, this.maxInflight, this.dropped);
    this.sum = 0;
    this.count = 0;
    this.maxInflight = 0;
    this.dropped = false;
    this.closesAt = now + this.windowMs;
    return ready;
  }
}
