import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync, type ValidationError } from 'class-validator';
import type { ConfigProblem } from '../errors';
import { didYouMean } from './did-you-mean';
import { redactMessage, redactSecrets } from './redact';

/** A class-validator decorated config class with a no-argument constructor. */
export type ConfigClass<T extends object = object> = new () => T;

/** Whether `cls` carries class-validator metadata, i.e. can serve as a config class. */
export function isConfigClass(cls: unknown): cls is ConfigClass {
  if (typeof cls !== 'function') return false;
  const metas = getMetadataStorage().getTargetValidationMetadatas(cls as ConfigClass, '', true, false);
  return metas.length > 0;
}

/** Names of the keys a config class declares (every decorated property, inherited ones too). */
export function declaredKeys(cls: ConfigClass): string[] {
  const metas = getMetadataStorage().getTargetValidationMetadatas(cls, '', true, false);
  return [...new Set(metas.map((m) => m.propertyName))];
}

/** Copies plain data, dropping keys whose value is `undefined`, so an explicit undefined never erases a default. */
export function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUndefined);
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v !== undefined) out[key] = withoutUndefined(v);
  }
  return out;
}

const RULE_MESSAGES: Record<string, string> = {
  whitelistValidation: 'is not a known key',
  nestedValidation: 'must be an object',
};

/** Rules about a value's type: when one fails, range rules on the same key only mislead. */
const TYPE_RULES = new Set(['isInt', 'isNumber', 'isString', 'isBoolean', 'isObject', 'isArray', 'isEnum']);

function flatten(errors: ValidationError[], prefix: string, out: ConfigProblem[]): void {
  for (const error of errors) {
    const path = prefix ? `${prefix}.${error.property}` : error.property;
    const all = Object.entries(error.constraints ?? {});
    const typeFailures = all.filter(([rule]) => TYPE_RULES.has(rule));
    for (const [rule, raw] of typeFailures.length ? typeFailures : all) {
      let message = RULE_MESSAGES[rule] ?? (raw.startsWith(`${error.property} `) ? raw.slice(error.property.length + 1) : raw);
      // A typo of a known key (one or two edits away) is named: `maxConections` -> `maxConnections`.
      if (rule === 'whitelistValidation' && error.target) message += didYouMean(error.property, declaredKeys(error.target.constructor as ConfigClass));
      // isObject and nestedValidation both say "must be an object" for the same key: say it once.
      if (out.some((p) => p.path === path && p.message === message)) continue;
      // A rejected secret must not reach a log line through the problem's value or its message.
      out.push({ path, rule, message: redactMessage(message, error.value, error.property), value: redactSecrets(error.value, error.property) });
    }
    if (error.children?.length) flatten(error.children, path, out);
  }
}

/**
 * Turns plain data into a validated instance of `cls`, applying defaults for absent keys.
 * Returns every problem found, paths prefixed with `section`. With `only`, problems of other
 * keys are left out (a pool validating its own keys of a section its server already validated).
 */
export function validateSection<T extends object>(cls: ConfigClass<T>, plain: unknown, section: string, options: { only?: ReadonlySet<string> } = {}): { value?: T; problems: ConfigProblem[] } {
  if (plain !== undefined && (plain === null || typeof plain !== 'object' || Array.isArray(plain))) {
    return { problems: [{ path: section, rule: 'isObject', message: 'must be an object', value: plain }] };
  }
  const instance = plainToInstance(cls, withoutUndefined(plain ?? {}) as object, { exposeDefaultValues: true });
  const problems: ConfigProblem[] = [];
  flatten(validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true }), section, problems);
  // Cross-field rules run even when some fields failed, so one pass lists everything; a rule
  // touching a field that already has a problem is left out (its verdict would be noise).
  let cross: ConfigProblem[] = [];
  try {
    cross = (instance as { crossCheck?: () => ConfigProblem[] }).crossCheck?.() ?? [];
  } catch {
    cross = []; // a nested value of the wrong shape; its own problem is already listed
  }
  const failed = new Set(problems.map((p) => p.path));
  for (const p of cross) {
    const path = `${section}.${p.path}`;
    if (failed.has(path)) continue;
    // Cross rules see fields that passed their own rules (a key setting is a readable path by
    // then, not a secret): only PEM text is taken out, so the paths stay in the message.
    const safe: ConfigProblem = { ...p, path, message: redactMessage(p.message, p.value) };
    if ('value' in p) safe.value = redactSecrets(p.value);
    problems.push(safe);
  }
  const only = options.only;
  const kept = only ? problems.filter((p) => !isOtherKey(p.path, section, only, new Set(declaredKeys(cls)))) : problems;
  return kept.length ? { problems: kept } : { value: instance, problems: kept };
}

/** Whether a problem's `path` lies under a declared key of the section that is not one of `keys` (unknown keys stay problems). */
function isOtherKey(path: string, section: string, keys: ReadonlySet<string>, declared: ReadonlySet<string>): boolean {
  if (!path.startsWith(`${section}.`)) return false;
  const key = path.slice(section.length + 1).split('.')[0];
  return declared.has(key) && !keys.has(key);
}
