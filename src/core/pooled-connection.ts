import type { ConnectionInfo, ConnectionState, CloseReason } from './pool-types';

/**
 * One tracked connection: the protocol's own object (`raw`) plus what the pool knows about it.
 * Fields are plain numbers updated in place, so tracking a request allocates nothing.
 */
export class PooledConnection<T> implements ConnectionInfo {
  state: ConnectionState = 'idle';
  inFlight = 0;
  requests = 0;
  messages = 0;
  bytesIn = 0;
  bytesOut = 0;
  lastActivityAt: number;
  /** Set when the pool decided to close it; the reason `remove()` reports. */
  closeReason: CloseReason | undefined;
  /** True once the pool destroyed it at a drain deadline or forced stop. */
  forced = false;
  removed = false;
  /** Whether the first unit of work has started (ends the connection timeout). */
  started = false;
  /** @internal timer for the connection timeout, then for the idle timeout. */
  timer: NodeJS.Timeout | undefined;
  /** @internal which timeout `timer` runs. */
  timerKind: 'connection' | 'idle' | undefined;
  /** Free slot for the protocol's own per-connection data. */
  data: unknown;

  constructor(
    readonly id: number,
    readonly protocol: string,
    readonly raw: T,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly startedAt: number,
  ) {
    this.lastActivityAt = startedAt;
  }

  /** A plain copy for events, logs and `/status`. */
  toJSON(): ConnectionInfo {
    return {
      id: this.id,
      protocol: this.protocol,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      startedAt: this.startedAt,
      state: this.state,
      inFlight: this.inFlight,
      requests: this.requests,
      messages: this.messages,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      lastActivityAt: this.lastActivityAt,
    };
  }
}
