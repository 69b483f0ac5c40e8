import { EventEmitter } from 'node:events';
import { ListenerError } from '../errors';

/** Receives what a listener threw (or the reason its promise rejected). */
export type ListenerErrorHandler = (event: string, error: unknown) => void;

/** The default handler: a process warning (`UNIPOOL_LISTENER_FAILED`), printed by node on stderr. */
export const warnListenerError: ListenerErrorHandler = (event, error) => process.emitWarning(new ListenerError(event, error));

/**
 * `EventEmitter` whose listeners get the payload type of their event (`M` maps names to payloads).
 * A listener that throws or rejects never reaches the code that emitted, nor skips the listeners
 * after it: its error goes to `onListenerError`. An emitter's owner emits while its state is
 * half updated no more, and a broken observer cannot corrupt it.
 */
export class TypedEmitter<M> {
  private readonly emitter = new EventEmitter();
  /** Where listener errors go; the owner of the emitter sets it (a pool logs them). Default: a process warning. */
  onListenerError: ListenerErrorHandler = warnListenerError;

  constructor() {
    // Many observers (metrics, logs, samples) may listen; none of them is a leak.
    this.emitter.setMaxListeners(0);
  }

  on<K extends keyof M & string>(event: K, listener: (payload: M[K]) => void): this {
    this.emitter.on(event, listener);
    return this;
  }

  once<K extends keyof M & string>(event: K, listener: (payload: M[K]) => void): this {
    this.emitter.once(event, listener);
    return this;
  }

  off<K extends keyof M & string>(event: K, listener: (payload: M[K]) => void): this {
    this.emitter.off(event, listener);
    return this;
  }

  /** Calls every listener of `event` in order, each isolated from the others; an unobserved event costs one lookup. */
  emit<K extends keyof M & string>(event: K, payload: M[K]): void {
    const count = this.emitter.listenerCount(event);
    if (count === 0) return;
    if (count === 1) {
      // The common case (one observer): node keeps a lone listener (or its `once` wrapper) as
      // the function itself, so no array is copied.
      const only = (this.emitter as unknown as { _events: Record<string, unknown> })._events[event];
      if (typeof only === 'function') {
        this.call(only as (payload: M[K]) => unknown, event, payload);
        return;
      }
    }
    // rawListeners: a copy (a listener may remove itself or others), with `once` wrappers that unregister on call.
    for (const listener of this.emitter.rawListeners(event) as Array<(payload: M[K]) => unknown>) this.call(listener, event, payload);
  }

  /** Calls one listener; what it throws or rejects with goes to `onListenerError`. */
  private call<P>(listener: (payload: P) => unknown, event: string, payload: P): void {
    try {
      const returned = listener.call(this.emitter, payload);
      if (returned !== undefined && typeof (returned as PromiseLike<unknown>).then === 'function') {
        (returned as PromiseLike<unknown>).then(undefined, (err: unknown) => this.reportListenerError(event, err));
      }
    } catch (err) {
      this.reportListenerError(event, err);
    }
  }

  private reportListenerError(event: string, error: unknown): void {
    try {
      this.onListenerError(event, error);
    } catch {
      // A handler that throws (a broken logger) must not undo the isolation.
    }
  }

  listenerCount(event: keyof M & string): number {
    return this.emitter.listenerCount(event);
  }

  /**
   * Whether `event` has a listener: one lookup in node's own table (which drops the entry of an
   * event whose last listener goes), for checks made once per connection.
   */
  has(event: keyof M & string): boolean {
    return (this.emitter as unknown as { _events: Record<string, unknown> })._events[event] !== undefined;
  }

  removeAllListeners(): void {
    this.emitter.removeAllListeners();
  }
}
