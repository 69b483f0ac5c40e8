/**
 * Config objects are handed out frozen: a change goes through `updateConfig` or a reload, which
 * validate it, apply it to live connections and emit an event. Freezing happens once per config
 * change, so reading a config costs nothing extra.
 */

/** Freezes `value` and every object or array reachable from it, in place; returns it. */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return value;
}

/** A new unfrozen instance of `config`'s class with the same own values (nested objects are shared, frozen). */
export function copyConfig<T extends object>(config: T): T {
  return Object.assign(Object.create(Object.getPrototypeOf(config) as object) as T, config);
}
