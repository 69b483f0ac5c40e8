/**
 * The wait before a crashed worker's slot gets a new one: `base`, doubled for each crash in a
 * row, at most `cap`. A worker that had run `stableAfter` ms starts the count over.
 */
export class RestartBackoff {
  private streak = 0;

  constructor(
    private readonly base: number,
    private readonly cap: number,
    private readonly stableAfter: number,
  ) {}

  /** The delay before the next start, given how long the dead worker ran. */
  next(uptimeMs: number): number {
    if (uptimeMs >= this.stableAfter) this.streak = 0;
    const delay = Math.min(this.cap, this.base * 2 ** Math.min(this.streak, 30));
    this.streak++;
    return delay;
  }

  /** Crashes in a row so far. */
  get crashes(): number {
    return this.streak;
  }
}
