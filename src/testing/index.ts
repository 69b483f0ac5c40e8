import 'reflect-metadata';
import { Application, type AppOptions } from '../lifecycle/application';
import type { Logger } from '../core/logger';
import { configSectionOf } from '../di/decorators';
import { readConfigFile } from '../config/config-loader';
import type { ConnectionPoolManager } from '../core/connection-pool-manager';

/** One line a `CapturingLogger` received. */
export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string | undefined;
  fields: Record<string, unknown>;
}

/** A logger that keeps every line in memory, for assertions. Children share the parent's list. */
export class CapturingLogger implements Logger {
  constructor(
    readonly records: LogRecord[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}
  private write(level: LogRecord['level'], obj: object, msg?: string): void {
    this.records.push({ level, msg, fields: { ...this.bindings, ...obj } });
  }
  debug(obj: object, msg?: string): void {
    this.write('debug', obj, msg);
  }
  info(obj: object, msg?: string): void {
    this.write('info', obj, msg);
  }
  warn(obj: object, msg?: string): void {
    this.write('warn', obj, msg);
  }
  error(obj: object, msg?: string): void {
    this.write('error', obj, msg);
  }
  child(bindings: Record<string, unknown>): Logger {
    return new CapturingLogger(this.records, { ...this.bindings, ...bindings });
  }
  /** Records whose message is `msg`. */
  find(msg: string): LogRecord[] {
    return this.records.filter((r) => r.msg === msg);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type PoolClass = abstract new (...args: any[]) => ConnectionPoolManager<any, any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Replacement = (new (...args: any[]) => ConnectionPoolManager<any, any>) | ConnectionPoolManager<any, any>;

/** Options of `createTestApp`: those of `createApp`, plus pools to swap. */
export interface TestAppOptions extends AppOptions {
  /** Pairs of [pool class, replacement class or instance], rebound before start. */
  pools?: ReadonlyArray<readonly [PoolClass, Replacement]>;
}

/**
 * The environment of a test app: the one given (default: empty), plus
 * `UNIPOOL_SHUTDOWN_EXIT_DELAY=false` unless the env, the config object or the config file (as
 * read when the test app is created) sets `shutdown.exitDelay`. The test process is the
 * runner's: a signal-started shutdown must never `process.exit` it. An env variable, not a
 * config key, so a reload with another config object keeps it.
 */
function testEnv(options: TestAppOptions): NodeJS.ProcessEnv {
  const env = { ...(options.env ?? {}) };
  const shutdown = (typeof options.config === 'string' ? fileSection(options.config, 'shutdown') : options.config?.shutdown) as Record<string, unknown> | undefined;
  const configured = typeof shutdown === 'object' && shutdown !== null && 'exitDelay' in shutdown;
  if (!configured && env.UNIPOOL_SHUTDOWN_EXIT_DELAY === undefined) env.UNIPOOL_SHUTDOWN_EXIT_DELAY = 'false';
  return env;
}

/** One section of a config file, if the file reads as JSON; otherwise `start()` reports the file. */
function fileSection(file: string, section: string): unknown {
  try {
    return readConfigFile(file)[section];
  } catch {
    return undefined;
  }
}

/**
 * An application set up for tests: no signal handlers, a `CapturingLogger`, an empty
 * environment, every server section (and `admin`, if present) on 127.0.0.1 port 0 (but a
 * section with `attachTo`, which has no listener of its own) and `shutdown.exitDelay` false
 * (never `process.exit` the test runner) unless the env or the config (object or file) says
 * otherwise, and any pool replaced as asked.
 */
export function createTestApp(options: TestAppOptions): Application & { logs: CapturingLogger } {
  const logger = options.logger instanceof CapturingLogger ? options.logger : new CapturingLogger();
  let config = options.config;
  if (config === undefined || typeof config === 'object') {
    const merged: Record<string, unknown> = { ...(config ?? {}) };
    for (const server of options.servers) {
      const section = configSectionOf(server);
      if (section === undefined) continue;
      const given = (merged[section] ?? {}) as Record<string, unknown>;
      // A section attached to another server's listener (`attachTo`) has no host or port of its own.
      merged[section] = given.attachTo != null ? given : { host: '127.0.0.1', port: 0, ...given };
    }
    // The admin server runs only when asked for; then on a free port too.
    if (merged.admin && typeof merged.admin === 'object') merged.admin = { host: '127.0.0.1', port: 0, ...(merged.admin as object) };
    config = merged;
  }
  const app = new Application({ ...options, config, logger: options.logger ?? logger, env: testEnv(options), handleSignals: options.handleSignals ?? false });
  for (const [poolClass, replacement] of options.pools ?? []) overridePool(app, poolClass, replacement);
  return Object.assign(app, { logs: logger });
}

/** Rebinds `poolClass` in the app's container to a replacement class (as a singleton) or instance. Call before `start()`. */
export function overridePool(app: Application, poolClass: PoolClass, replacement: Replacement): void {
  const binding = app.container.rebind(poolClass);
  if (typeof replacement === 'function') binding.to(replacement).inSingletonScope();
  else binding.toConstantValue(replacement);
}
