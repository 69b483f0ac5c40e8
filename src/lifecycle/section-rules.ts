import type { ServerPoolSettings } from '../config/pool-config';
import type { ValidatedConfig } from '../config/config-loader';
import { plainConfig } from '../core/config-diff';
import type { ConnectionPoolManager } from '../core/connection-pool-manager';
import type { ConfigProblem } from '../errors';

/** A server reading a section, by name. */
export interface SectionReader {
  section: string;
  server: string;
}

/** The servers sharing one pool, in startup order (the pool is configured from the first one's section). */
export interface PoolGroup {
  pool: ConnectionPoolManager<unknown>;
  readers: readonly SectionReader[];
}

function names(list: readonly string[]): string {
  return list.length <= 2 ? list.join(' and ') : `${list.slice(0, -1).join(', ')} and ${list[list.length - 1]}`;
}

/** Leaf values of plain data by dotted path (`health.minRequests`), so a difference names the exact key. */
function leaves(value: unknown, path: string, out: Map<string, unknown>): Map<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, v] of Object.entries(value)) leaves(v, `${path}.${key}`, out);
  } else {
    out.set(path, value);
  }
  return out;
}

/**
 * Servers sharing a pool must agree on the keys the pool owns (`pool.poolKeys()`): one pool
 * cannot admit up to 100 connections for one server and 5 for another. One problem per key that
 * differs from the first server's section, naming both paths and both servers.
 */
export function sharedPoolProblems(group: PoolGroup, config: ValidatedConfig): ConfigProblem[] {
  const [first, ...others] = group.readers;
  if (!first) return [];
  const problems: ConfigProblem[] = [];
  const keys = [...group.pool.poolKeys()];
  const base = plainConfig(config.get(first.section));
  const expected = new Map<string, unknown>();
  for (const key of keys) leaves(base[key], key, expected);
  for (const other of others) {
    if (other.section === first.section) continue;
    const values = plainConfig(config.get(other.section));
    const actual = new Map<string, unknown>();
    for (const key of keys) leaves(values[key], key, actual);
    for (const path of new Set([...expected.keys(), ...actual.keys()])) {
      const a = JSON.stringify(expected.get(path));
      const b = JSON.stringify(actual.get(path));
      if (a === b) continue;
      problems.push({
        path: `${other.section}.${path}`,
        rule: 'sharedPool',
        message: `${first.section}.${path} (${a}) differs from ${other.section}.${path} (${b}): servers ${first.server} and ${other.server} share ${group.pool.constructor.name}, whose settings (${keys.join(', ')}) must be the same in both sections`,
      });
    }
  }
  return problems;
}

/**
 * Two servers reading one section would both bind its port: with a fixed port the second one
 * could only fail at listen. Port 0 is fine (each server gets a free port).
 */
export function sharedPortProblems(readers: readonly SectionReader[], config: ValidatedConfig): ConfigProblem[] {
  const bySection = new Map<string, string[]>();
  for (const { section, server } of readers) bySection.set(section, [...(bySection.get(section) ?? []), server]);
  const problems: ConfigProblem[] = [];
  for (const [section, servers] of bySection) {
    const value = config.get(section) as (ServerPoolSettings & { attachTo?: string }) | undefined;
    if (servers.length < 2 || !value?.port || value.attachTo != null) continue;
    const port = value.port;
    problems.push({
      path: `${section}.port`,
      rule: 'sharedSection',
      message: `servers ${names(servers)} both read section '${section}' and cannot both listen on port ${port} (give each server its own section, or use port 0)`,
    });
  }
  return problems;
}
