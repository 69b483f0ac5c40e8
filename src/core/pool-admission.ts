/**
 * Who gets in: the connection cap (`maxConnections`, or this process's share of it in a cluster
 * worker) and the edge at which the cap is reached (`LimitReached` fires once per reach).
 * The pool manager asks it before admitting a connection and tells it each admission and removal.
 */
export class PoolAdmission {
  private max: number;
  /** Connections this process may admit when it holds only a share of `maxConnections` (a cluster worker); undefined: `maxConnections`. */
  private share: number | undefined = undefined;
  private atLimit = false;

  constructor(maxConnections: number) {
    this.max = maxConnections;
  }

  /** What this process may admit: its share of `maxConnections` (a cluster worker), else `maxConnections`. */
  get limit(): number {
    return this.share ?? this.max;
  }

  /** Whether a connection may be admitted with `active` open now. */
  allows(active: number): boolean {
    return active < (this.share ?? this.max);
  }

  /** A connection was admitted, `active` open now; true when this one reached the limit (report it once). */
  admitted(active: number): boolean {
    if (this.atLimit || active < (this.share ?? this.max)) return false;
    this.atLimit = true;
    return true;
  }

  /** A connection left, `active` open now. */
  removed(active: number): void {
    if (this.atLimit && active < (this.share ?? this.max)) this.atLimit = false;
  }

  /** A new `maxConnections`; true when the pool is now at a limit it was not at (report it). */
  setMax(maxConnections: number, active: number): boolean {
    this.max = maxConnections;
    return this.settle(active);
  }

  /** A cluster worker's share of `maxConnections` (`undefined`: the whole). Live connections over a lowered share stay. */
  setShare(share: number | undefined, active: number): void {
    this.share = share === undefined ? undefined : Math.max(0, Math.floor(share));
    this.settle(active);
  }

  private settle(active: number): boolean {
    const at = active >= this.limit;
    const reached = at && !this.atLimit;
    this.atLimit = at;
    return reached;
  }
}
