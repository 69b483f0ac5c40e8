import { EventEmitter } from 'node:events';

/** `EventEmitter` whose listeners get the payload type of their event (`M` maps names to payloads). */
export class TypedEmitter<M> {
  private readonly emitter = new EventEmitter();

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

  /** Emits only when someone listens, so an unobserved event costs one lookup. */
  emit<K extends keyof M & string>(event: K, payload: M[K]): void {
    if (this.emitter.listenerCount(event) > 0) this.emitter.emit(event, payload);
  }

  listenerCount(event: keyof M & string): number {
    return this.emitter.listenerCount(event);
  }

  removeAllListeners(): void {
    this.emitter.removeAllListeners();
  }
}
