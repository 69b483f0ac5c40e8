import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigLoadError, ConfigValidationError, type ConfigProblem } from '../errors';
import { didYouMean } from './did-you-mean';
import { jsonSyntaxError } from './json-syntax';
import { redactSecrets } from './redact';
import { declaredKeys, isConfigClass, validateSection, type ConfigClass } from './validate-config';

/** Where configuration comes from: a plain object, or the path of a JSON file. */
export type ConfigSource = string | Record<string, unknown>;

/** Validated configuration: one instance per known section. */
export type ValidatedConfig = ReadonlyMap<string, object>;

/** Prefix of environment overrides: `UNIPOOL_<SECTION>_<KEY>`, e.g. `UNIPOOL_HTTP_MAX_CONNECTIONS`. */
export const ENV_PREFIX = 'UNIPOOL_';

/** Environment variables with the prefix that are not overrides. */
const ENV_RESERVED = new Set(['UNIPOOL_CONFIG', 'UNIPOOL_LOG_LEVEL', 'UNIPOOL_CLUSTER_WORKER', 'UNIPOOL_CLUSTER_BUDGET']);

/** `maxConnections` -> `MAX_CONNECTIONS`. */
export function toEnvName(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** The prefix of a section's variables: `http` -> `UNIPOOL_HTTP_`. */
export function envSectionPrefix(section: string): string {
  return `${ENV_PREFIX}${toEnvName(section)}_`;
}

function parseEnvValue(raw: string): unknown {
  const text = raw.trim();
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  if (text.startsWith('{') || text.startsWith('[')) {
    try {
      return JSON.parse(text);
    } catch {
      return raw;
    }
  }
  return raw;
}

/** The config class of a nested key: from its default value, else from the emitted `design:type` (optional blocks such as `tls`). */
function nestedClass(cls: ConfigClass, key: string, value: unknown): ConfigClass | undefined {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && value.constructor !== Object) return value.constructor as ConfigClass;
  const type: unknown = Reflect.getMetadata('design:type', cls.prototype, key);
  return isConfigClass(type) ? type : undefined;
}

/** Maps env names to key paths for one config class, nested classes included (a nested block can also be given whole, as JSON). */
function envPaths(cls: ConfigClass, envPrefix: string, keyPrefix: string[], out: Map<string, string[]>): void {
  const defaults = new cls() as Record<string, unknown>;
  for (const key of declaredKeys(cls)) {
    const path = [...keyPrefix, key];
    const name = `${envPrefix}${toEnvName(key)}`;
    const nested = nestedClass(cls, key, defaults[key]);
    if (nested) {
      envPaths(nested, `${name}_`, path, out);
      if (defaults[key] === undefined) out.set(name, path);
    } else {
      out.set(name, path);
    }
  }
}

/** Reads a JSON config file into a plain object. */
export function readConfigFile(file: string): Record<string, unknown> {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigLoadError(`cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text near the error, which may be a secret: give the
    // position only (and no cause, which a logger would print).
    const at = jsonSyntaxError(text);
    throw new ConfigLoadError(`config file ${path} is not valid JSON${at ? ` (line ${at.line}, column ${at.column})` : ''}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigLoadError(`config file ${path} must hold one JSON object with a key per section`);
  }
  return data as Record<string, unknown>;
}

/** A copy to apply env overrides to; undefined keys drop out, null stays null (an error, as in a JSON file). */
function clonePlain(value: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

/**
 * Loads and validates configuration against the known sections, in one pass, and throws one
 * `ConfigValidationError` listing every problem (unknown sections and env overrides included).
 */
export class ConfigLoader {
  /**
   * @param sections every section the application knows, by name
   * @param required sections validated even when absent (their defaults must hold); the others only when present
   * @param envIgnored sections whose environment overrides are skipped (a protocol's section with no server to read it)
   */
  constructor(
    private readonly sections: ReadonlyMap<string, ConfigClass>,
    private readonly required: ReadonlySet<string> = new Set(sections.keys()),
    private readonly envIgnored: ReadonlySet<string> = new Set(),
  ) {}

  /**
   * The raw plain object from a source with environment overrides applied; problems are
   * collected, and the names of skipped variables (of `envIgnored` sections) go to `ignored`.
   */
  raw(source: ConfigSource | undefined, env: NodeJS.ProcessEnv, problems: ConfigProblem[], ignored: string[] = []): Record<string, unknown> {
    const base = source === undefined ? {} : typeof source === 'string' ? readConfigFile(source) : clonePlain(source);
    for (const [name, value] of Object.entries(env)) {
      if (!name.startsWith(ENV_PREFIX) || ENV_RESERVED.has(name) || value === undefined) continue;
      const match = this.envTarget(name);
      // Any variable of an ignored section, a key it names or not: nothing reads that section.
      const owner = match?.[0] ?? [...this.envIgnored].find((section) => name.startsWith(envSectionPrefix(section)));
      if (owner !== undefined && this.envIgnored.has(owner)) {
        ignored.push(name);
        continue;
      }
      if (!match) {
        problems.push({ path: `env.${name}`, rule: 'unknownEnv', message: `does not name a config key (expected ${ENV_PREFIX}<SECTION>_<KEY>, e.g. UNIPOOL_HTTP_MAX_CONNECTIONS)`, value: redactSecrets(value, name) });
        continue;
      }
      const [section, path] = match;
      if (base[section] === undefined) base[section] = {};
      let node = base[section] as Record<string, unknown> | null;
      for (const key of path.slice(0, -1)) {
        if (typeof node !== 'object' || node === null) break;
        if (node[key] === undefined) node[key] = {};
        node = node[key] as Record<string, unknown> | null;
      }
      // A section or nested object that is not an object is reported invalid by validation.
      if (typeof node !== 'object' || node === null || Array.isArray(node)) continue;
      node[path[path.length - 1]] = parseEnvValue(value);
    }
    return base;
  }

  private envTarget(name: string): [string, string[]] | undefined {
    for (const [section, cls] of this.sections) {
      const prefix = envSectionPrefix(section);
      if (!name.startsWith(prefix)) continue;
      const map = new Map<string, string[]>();
      envPaths(cls, prefix, [], map);
      const path = map.get(name);
      if (path) return [section, path];
    }
    return undefined;
  }

  /** Loads `source`, applies `env` (names of skipped variables go to `ignored`), validates every section, and returns the validated sections. */
  load(source: ConfigSource | undefined, env: NodeJS.ProcessEnv = process.env, ignored: string[] = []): ValidatedConfig {
    const problems: ConfigProblem[] = [];
    const raw = this.raw(source, env, problems, ignored);
    const result = new Map<string, object>();
    for (const key of Object.keys(raw)) {
      if (!this.sections.has(key)) {
        problems.push({ path: key, rule: 'unknownSection', message: `is not a known section${didYouMean(key, this.sections.keys())} (known: ${[...this.sections.keys()].join(', ')})` });
      }
    }
    for (const [section, cls] of this.sections) {
      if (raw[section] === undefined && !this.required.has(section)) continue;
      const { value, problems: found } = validateSection(cls, raw[section], section);
      problems.push(...found);
      if (value) result.set(section, value);
    }
    problems.push(...distinctPorts(result));
    if (problems.length) throw new ConfigValidationError(problems, typeof source === 'string' ? source : undefined);
    return result;
  }
}

function distinctPorts(sections: ReadonlyMap<string, object>): ConfigProblem[] {
  const seen = new Map<number, string>();
  const problems: ConfigProblem[] = [];
  for (const [section, value] of sections) {
    const { port, attachTo } = value as { port?: unknown; attachTo?: unknown };
    // A section attached to another server's listener (a WebSocket server on the HTTP port) opens no port.
    if (typeof port !== 'number' || port === 0 || attachTo != null) continue;
    const other = seen.get(port);
    if (other) problems.push({ path: `${section}.port`, rule: 'distinctPorts', message: `is already used by ${other}.port`, value: port });
    else seen.set(port, section);
  }
  return problems;
}
