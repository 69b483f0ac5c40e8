import type { AddressInfo } from 'node:net';
import type { ServerPoolSettings } from '../config/pool-config';
import { copyConfig, deepFreeze } from '../config/frozen-config';
import { validateSection, type ConfigClass } from '../config/validate-config';
import { ConfigValidationError, LifecycleStateError, type ConfigProblem } from '../errors';
import { changedConfigKeys, mergeConfig } from './config-diff';
import type { ConnectionPoolManager } from './connection-pool-manager';
import type { Logger } from './logger';
import type { ConfigUpdateResult, PreparedConfigUpdate } from './pool-types';

/** Hooks the application calls, in this order, on servers and on any provider that has them. */
export interface LifecycleHooks {
  /** After config is validated and everything is resolved, before any port opens. */
  onInit?(): void | Promise<void>;
  /** After every server listens. */
  onReady?(): void | Promise<void>;
  /** At the start of shutdown, after readiness turns false, before listeners close. */
  beforeShutdown?(): void | Promise<void>;
  /** After every connection is gone; called in reverse order of startup. */
  onShutdown?(): void | Promise<void>;
}

/** Names of the lifecycle hooks, in the order they run. */
export const LIFECYCLE_HOOKS = ['onInit', 'onReady', 'beforeShutdown', 'onShutdown'] as const;
export type LifecycleHookName = (typeof LIFECYCLE_HOOKS)[number];

/** The property `@UsePool` has the container inject the pool into (read through `ManagedServer.pool`). */
export const INJECTED_POOL: unique symbol = Symbol.for('unipool.injectedPool');

/** The config class instances a pool type is configured with (`HttpPoolConfig` for `HttpConnectionPool`): the default config type of a server declared with that pool. */
export type PoolConfigOf<P extends ConnectionPoolManager<unknown, ServerPoolSettings>> = InstanceType<P['configClass']>;

/** Keys of a server's section that only a new listener can take. */
const SERVER_RESTART_KEYS: ReadonlySet<string> = new Set(['host', 'port']);

/**
 * A server whose connections a pool manages. Protocols subclass it; the application drives
 * it: `listen` -> `stopAccepting` -> `drain` -> `close`. The pool is injected by `@UsePool`.
 *
 * A server reads its own config section. The keys its pool owns (`pool.poolKeys()`: admission,
 * connection timeouts, health) take effect through the pool, which servers sharing it must agree
 * on; every other key (listener, TLS, path, node timeouts, `retryAfter`...) is this server's own.
 */
export abstract class ManagedServer<P extends ConnectionPoolManager<unknown, ServerPoolSettings> = ConnectionPoolManager<unknown, ServerPoolSettings>, C extends ServerPoolSettings = ServerPoolSettings> {
  /** The pool class (or a base of it) this kind of server works with; `@UsePool` must name one. */
  static readonly poolType: abstract new (...args: never[]) => ConnectionPoolManager<unknown>;
  /**
   * The config section a server of this protocol reads when neither `@PoolConfig` nor
   * `@UsePool(Pool, 'section')` names one (`http` for an `HttpServer`); `@UsePool` passes it to
   * the constructor, so a server that only forwards its config needs no constructor.
   */
  static readonly configSection: string | undefined;

  /** @internal Set by the container right after the constructor (see `@UsePool`); read `pool`. */
  [INJECTED_POOL]: P | undefined;
  /** Set by the application before `listen`. */
  protected logger: Logger | undefined;
  private currentConfig: C;
  private section: string | undefined;

  constructor(config: C) {
    this.currentConfig = deepFreeze(config);
  }

  /**
   * The pool singleton, injected by the container (see `@UsePool`) after the constructor ran:
   * use it from `onInit` on. Reading it earlier throws `LifecycleStateError`.
   */
  get pool(): P {
    const pool = this[INJECTED_POOL];
    if (pool === undefined) throw new LifecycleStateError(`${this.name}: this.pool is injected after the constructor; use it from onInit or later`);
    return pool;
  }

  /** This server's validated config section, frozen; change it with `updateConfig` or a reload. */
  get config(): C {
    return this.currentConfig;
  }

  /** A name for logs and errors. */
  get name(): string {
    return this.constructor.name;
  }

  /** @internal Called by the application before `listen`. */
  attachLogger(logger: Logger): void {
    this.logger = logger;
  }

  /** @internal The config section this server reads (problem paths name it). */
  assignSection(section: string): void {
    this.section = section;
  }

  /** Keys of this server's section that need a restart (a new listener) to change. */
  protected restartKeys(): ReadonlySet<string> {
    return SERVER_RESTART_KEYS;
  }

  /**
   * Applies a change of this server's own keys (`changed`) to what it runs; called before the
   * new config is in effect. Throw to refuse it (the old config stays).
   */
  protected applyServerConfig(_previous: C, _next: C, _changed: readonly string[]): void {}

  /**
   * Keys that must be applied although their value did not change, because what they point at
   * did (a certificate renewed at the same path). Default: none.
   */
  protected changedOutsideConfig(_previous: C, _next: C): string[] {
    return [];
  }

  /**
   * @internal Called by the pool (while this server is attached to it, see `attachServer`) when
   * its keys changed: the server's copy follows, and a server deriving settings from pool keys
   * (a socket cap from `maxConnections`, say) applies them here.
   */
  applyPoolConfig(_previous: ServerPoolSettings, next: ServerPoolSettings): void {
    const copy = copyConfig(this.currentConfig) as Record<string, unknown>;
    for (const key of this.pool.poolKeys()) copy[key] = (next as unknown as Record<string, unknown>)[key];
    this.currentConfig = deepFreeze(copy as unknown as C);
  }

  /**
   * Works out a change of this server's config to the validated `next` (the whole section), without
   * touching anything; `commit()` applies it. Keys the pool owns are taken as given and not listed:
   * the pool applies and reports them. Restart-only keys keep their old values.
   */
  prepareConfig(next: C): PreparedConfigUpdate<C> {
    const previous = this.currentConfig;
    const copy = copyConfig(next);
    const values = copy as unknown as Record<string, unknown>;
    const poolKeys = this.pool.poolKeys();
    const restart = this.restartKeys();
    const applied: string[] = [];
    const restartRequired: string[] = [];
    for (const key of changedConfigKeys(previous, copy)) {
      if (poolKeys.has(key)) continue;
      if (restart.has(key)) {
        restartRequired.push(key);
        values[key] = (previous as unknown as Record<string, unknown>)[key];
      } else {
        applied.push(key);
      }
    }
    for (const key of this.changedOutsideConfig(previous, copy)) {
      if (!applied.includes(key) && !restart.has(key)) applied.push(key);
    }
    return {
      applied,
      restartRequired,
      previous,
      next: copy,
      commit: () => {
        if (this.currentConfig !== previous) throw new ConfigValidationError([{ path: this.sectionName, rule: 'stale', message: 'the config changed since this update was prepared' }], 'updateConfig');
        if (applied.length) this.applyServerConfig(previous, copy, applied);
        this.currentConfig = deepFreeze(copy);
        return { applied, restartRequired };
      },
    };
  }

  /**
   * Validates `partial` merged over this server's config and applies it atomically (live
   * connections keep working). Pool keys are refused here: they are shared, change them with
   * `pool.updateConfig`. Throws `ConfigValidationError` listing every problem.
   */
  updateConfig(partial: Partial<Record<keyof C, unknown>> | Record<string, unknown>): ConfigUpdateResult {
    const section = this.sectionName;
    const poolKeys = this.pool.poolKeys();
    const problems: ConfigProblem[] = [];
    for (const key of Object.keys(partial)) {
      if (poolKeys.has(key)) problems.push({ path: `${section}.${key}`, rule: 'poolSetting', message: `is a setting of ${this.pool.constructor.name}, shared by its servers: change it with pool.updateConfig()` });
    }
    const merged = mergeConfig(this.currentConfig, partial as Record<string, unknown>);
    const { value, problems: invalid } = validateSection(this.currentConfig.constructor as ConfigClass<C>, merged, section);
    problems.push(...invalid);
    if (!value || problems.length) throw new ConfigValidationError(problems, 'updateConfig');
    return this.prepareConfig(value).commit();
  }

  /** The section this server reads (its class name before the application assigned one). */
  protected get sectionName(): string {
    return this.section ?? this.name;
  }

  /**
   * The section of the server whose listener this one shares (a WebSocket server's `attachTo`),
   * or undefined: it listens on its own.
   */
  attachedTo(): string | undefined {
    return undefined;
  }

  /**
   * @internal Called by the application before any port opens, with the server reading the
   * `attachedTo()` section: returns a problem (path relative to this server's section) if this
   * server cannot take its upgrades there.
   */
  attachHost(host: ManagedServer, hostSection: string): ConfigProblem | undefined {
    return { path: 'attachTo', rule: 'attachTo', message: `${this.name} cannot share the listener of ${host.name}`, value: hostSection };
  }

  /** Opens the listener. Rejects (having closed what it opened) if the address cannot be bound. */
  abstract listen(): Promise<void>;

  /** Stops accepting new connections; live ones stay. */
  abstract stopAccepting(): Promise<void>;

  /** Drains this server's connections; see `ConnectionPoolManager.drain`. */
  drain(timeoutMs: number | undefined, signal?: AbortSignal) {
    return this.pool.drain(timeoutMs, signal);
  }

  /** Releases everything left (listener, sockets the pool does not track). Idempotent. */
  abstract close(): Promise<void>;

  /** The bound address, once listening. */
  abstract address(): AddressInfo | undefined;

  /** Told when application readiness changes (gRPC health follows it, say). */
  onReadinessChange(_ready: boolean): void {}
}
