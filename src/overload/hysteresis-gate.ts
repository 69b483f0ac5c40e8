/** Settings of a `HysteresisGate`. */
export interface HysteresisOptions {
  /** The gate opens as soon as the value reaches this. */
  enter: number;
  /** It closes only once the value is under `enter x exitRatio`... */
  exitRatio: number;
  /** ...and has stayed under it this long (ms, on the caller's clock). */
  holdTime: number;
}

/**
 * One raised/lowered state with hysteresis: raised at the threshold at once, lowered only after
 * the value has stayed under a lower one for a hold time, so a value hovering at the threshold
 * makes one transition, not one per sample.
 */
export class HysteresisGate {
  /** Whether the state is raised. */
  active = false;
  private belowSince = -1;
  private readonly exit: number;

  constructor(private readonly options: HysteresisOptions) {
    this.exit = options.enter * options.exitRatio;
  }

  /** Feeds the value sampled at `now`; returns whether `active` changed. */
  update(value: number, now: number): boolean {
    if (!this.active) {
      if (value < this.options.enter) return false;
      this.active = true;
      this.belowSince = -1;
      return true;
    }
    if (value >= this.exit) {
      this.belowSince = -1;
      return false;
    }
    if (this.belowSince < 0) this.belowSince = now;
    if (now - this.belowSince < this.options.holdTime) return false;
    this.active = false;
    this.belowSince = -1;
    return true;
  }
}
