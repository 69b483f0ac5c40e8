/**
 * How a worker's part of each pool's `maxConnections` is set. The budget is split by slot: the
 * primary runs `slots` workers, slot `i` gets `floor(max / slots)` plus one of the remainder,
 * so the shares add up to `max` exactly. While a slot is handed over (rolling restart), the
 * worker leaving keeps `held[pool]` and the one arriving gets the rest of the slot's share.
 */
export interface BudgetSpec {
  slot: number;
  slots: number;
  /** Connections the outgoing worker of this slot may still hold, by pool name. */
  held?: Record<string, number>;
}

/** Slot `slot`'s part of `max` over `slots` slots. */
export function slotShare(max: number, slot: number, slots: number): number {
  if (slots <= 1) return max;
  return Math.floor(max / slots) + (slot < max % slots ? 1 : 0);
}

/** What a worker with `spec` may admit in a pool named `pool` whose `maxConnections` is `max`. */
export function workerShare(max: number, pool: string, spec: BudgetSpec): number {
  return Math.max(0, slotShare(max, spec.slot, spec.slots) - (spec.held?.[pool] ?? 0));
}

/**
 * What an outgoing worker keeps when it lends its slot to a replacement: what it holds now plus
 * half of what is free, so both sides can admit while they overlap and their sum stays `share`.
 */
export function keepOnHandover(share: number, active: number): number {
  const free = Math.max(0, share - active);
  return Math.min(share, active + Math.ceil(free / 2));
}
