import type { AddressInfo } from 'node:net';
import type { ServerPoolSettings } from '../config/pool-config';
import type { ConnectionPoolManager } from './connection-pool-manager';
import type { Logger } from './logger';

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

/**
 * A server whose connections a pool manages. Protocols subclass it; the application drives
 * it: `listen` -> `stopAccepting` -> `drain` -> `close`. The pool is injected by `@UsePool`.
 */
export abstract class ManagedServer<P extends ConnectionPoolManager<unknown, ServerPoolSettings> = ConnectionPoolManager<unknown, ServerPoolSettings>, C extends ServerPoolSettings = ServerPoolSettings> {
  /** The pool class (or a base of it) this kind of server works with; `@UsePool` must name one. */
  static readonly poolType: abstract new (...args: never[]) => ConnectionPoolManager<unknown>;

  /** The pool singleton, injected by the container (see `@UsePool`). */
  declare readonly pool: P;
  /** Set by the application before `listen`. */
  protected logger: Logger | undefined;

  constructor(readonly config: C) {}

  /** A name for logs and errors. */
  get name(): string {
    return this.constructor.name;
  }

  /** @internal Called by the application before `listen`. */
  attachLogger(logger: Logger): void {
    this.logger = logger;
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
