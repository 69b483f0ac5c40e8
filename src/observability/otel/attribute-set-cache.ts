import type { Attributes } from '@opentelemetry/api';

type Level = Map<unknown, unknown>;

/**
 * Frozen attribute sets kept under up to four keys (nested maps: a lookup allocates nothing),
 * so an instrument recording per request reuses one object per distinct combination. Bounded:
 * past `cap` sets, new combinations are still returned (frozen) but not kept.
 */
export class AttributeSetCache {
  private readonly root: Level = new Map();
  private count = 0;

  constructor(private readonly cap: number) {}

  /** How many sets are kept. */
  get size(): number {
    return this.count;
  }

  /** The set kept under (a, b, c, d), if any. */
  get(a: unknown, b: unknown, c: unknown, d: unknown): Readonly<Attributes> | undefined {
    const l1 = this.root.get(a) as Level | undefined;
    const l2 = l1?.get(b) as Level | undefined;
    const l3 = l2?.get(c) as Level | undefined;
    return l3?.get(d) as Readonly<Attributes> | undefined;
  }

  /** `attrs`, frozen, kept under (a, b, c, d) while fewer than `cap` sets are kept. */
  set(a: unknown, b: unknown, c: unknown, d: unknown, attrs: Attributes): Readonly<Attributes> {
    Object.freeze(attrs);
    if (this.count >= this.cap) return attrs;
    const l1 = this.level(this.root, a);
    const l2 = this.level(l1, b);
    const l3 = this.level(l2, c);
    l3.set(d, attrs);
    this.count++;
    return attrs;
  }

  private level(parent: Level, key: unknown): Level {
    let next = parent.get(key) as Level | undefined;
    if (next === undefined) {
      next = new Map();
      parent.set(key, next);
    }
    return next;
  }
}
