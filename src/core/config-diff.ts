import { instanceToPlain } from 'class-transformer';
import { withoutUndefined } from '../config/validate-config';

/** A config's plain data (what JSON and comparisons see). */
export function plainConfig(config: object | undefined): Record<string, unknown> {
  return config === undefined ? {} : (instanceToPlain(config) as Record<string, unknown>);
}

/**
 * The plain data of `partial` over `current`: nested objects are merged one level deep, an
 * `undefined` value leaves the current one. With `replace`, `partial` is the whole new section (a
 * reload), so a key it leaves out goes back to its default instead of keeping the running value.
 */
export function mergeConfig(current: object, partial: Record<string, unknown>, replace = false): Record<string, unknown> {
  if (replace) return { ...partial };
  const before = plainConfig(current);
  const merged: Record<string, unknown> = { ...before };
  for (const [key, value] of Object.entries(partial)) {
    if (value === undefined) continue;
    const old = before[key];
    merged[key] = old && typeof old === 'object' && value && typeof value === 'object' && !Array.isArray(value) ? { ...(old as object), ...(withoutUndefined(value) as object) } : value;
  }
  return merged;
}

/** Top-level keys whose values differ between two configs. */
export function changedConfigKeys(previous: object, next: object): string[] {
  const before = plainConfig(previous);
  const after = plainConfig(next);
  const changed: string[] = [];
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) changed.push(key);
  }
  return changed;
}
