import { LatencyHistogram } from './latency-histogram';

/** Number of slots a sliding window is cut into; memory is fixed at this many slots. */
export const WINDOW_SLOTS = 10;

/**
 * Request, error, connection and latency figures over a sliding time window, kept in a ring of
 * `WINDOW_SLOTS` slots. Each slot covers `window / WINDOW_SLOTS` ms; expired slots are cleared
 * lazily when time moves on, so recording is O(1) and memory is constant.
 */
export class SlidingWindow {
  private readonly connections = new Float64Array(WINDOW_SLOTS);
  private readonly errors = new Float64Array(WINDOW_SLOTS);
  private readonly latency: LatencyHistogram[] = [];
  private readonly slotMs: number;
  /** Absolute slot number (time / slotMs) of the newest slot. */
  private head: number;
  /** Where the newest slot is in the ring, when it ends (window clock), and its latency. */
  private headIndex: number;
  private headEnd: number;
  private headLatency: LatencyHistogram;
  private readonly createdAt: number;

  /**
   * `retired`, if given, receives each slot's latency when the slot is reused or the window is
   * retired: the window's slots plus `retired` are then every request ever recorded, so an owner
   * wanting lifetime figures updates one histogram per request, not two.
   */
  constructor(
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly retired?: LatencyHistogram,
  ) {
    this.slotMs = Math.max(1, Math.floor(windowMs / WINDOW_SLOTS));
    for (let i = 0; i < WINDOW_SLOTS; i++) this.latency.push(new LatencyHistogram());
    this.createdAt = this.now();
    this.head = Math.floor(this.createdAt / this.slotMs);
    this.headIndex = this.head % WINDOW_SLOTS;
    this.headEnd = (this.head + 1) * this.slotMs;
    this.headLatency = this.latency[this.headIndex];
  }

  private advance(now: number = this.now()): void {
    let slot = Math.floor(now / this.slotMs);
    if (slot - this.head > WINDOW_SLOTS) {
      // A jump past a whole window: a long quiet spell, or a time from another clock (a
      // Date.now() passed by mistake would stall the window for ever). One read settles it.
      slot = Math.min(slot, Math.floor(this.now() / this.slotMs));
    }
    // A time behind the newest slot (a caller's clock read a moment earlier) counts in the newest slot.
    if (slot <= this.head) return;
    const steps = Math.min(slot - this.head, WINDOW_SLOTS);
    for (let s = 1; s <= steps; s++) {
      const i = (this.head + s) % WINDOW_SLOTS;
      this.connections[i] = 0;
      this.errors[i] = 0;
      const latency = this.latency[i];
      if (latency.count > 0) {
        this.retired?.merge(latency);
        latency.reset();
      }
    }
    this.head = slot;
    this.headIndex = slot % WINDOW_SLOTS;
    this.headEnd = (slot + 1) * this.slotMs;
    this.headLatency = this.latency[this.headIndex];
  }

  recordConnection(): void {
    this.advance();
    this.connections[this.headIndex]++;
  }

  /**
   * Records one request; `now` (a read of the window's clock) saves a clock read when the caller
   * has it. Within the newest slot (nearly always) that is one comparison and one histogram update.
   */
  recordRequest(bucket: number, ms: number, error: boolean, now?: number): void {
    if (now === undefined || now >= this.headEnd) this.advance(now);
    if (error) this.errors[this.headIndex]++;
    this.headLatency.observeAt(bucket, ms); // its count is the slot's request count
  }

  /** Adds the latency of every live slot to `into` (with `retired`, that makes the lifetime figures). */
  addLiveLatency(into: LatencyHistogram): void {
    for (const slot of this.latency) into.merge(slot);
  }

  /** Hands every live slot to `retired` and empties the window (when it is replaced). */
  retire(): void {
    for (const slot of this.latency) {
      if (slot.count === 0) continue;
      this.retired?.merge(slot);
      slot.reset();
    }
    this.connections.fill(0);
    this.errors.fill(0);
  }

  /** Figures over the window. The newest slot is partial, so rates use the time actually covered. */
  snapshot(): { connectionsPerSecond: number; requests: number; errors: number; latency: LatencyHistogram } {
    this.advance();
    let connections = 0;
    let requests = 0;
    let errors = 0;
    const latency = new LatencyHistogram();
    for (let i = 0; i < WINDOW_SLOTS; i++) {
      connections += this.connections[i];
      errors += this.errors[i];
      const slot = this.latency[i];
      const count = slot.count;
      if (count === 0) continue; // an empty slot adds nothing (a quiet window: most of them)
      requests += count;
      latency.merge(slot);
    }
    // Time the ring actually covers: the full slots plus the partial newest one, but never more
    // than the window has existed, and never under one second (a rate is "per second").
    const now = this.now();
    const covered = Math.max(1000, Math.min((WINDOW_SLOTS - 1) * this.slotMs + (now % this.slotMs) + 1, now - this.createdAt + 1));
    return { connectionsPerSecond: (connections * 1000) / covered, requests, errors, latency };
  }
}
