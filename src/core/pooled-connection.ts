import { wallTimeOf } from './clock';
import type { ConnectionInfo, ConnectionState, CloseReason } from './pool-types';

/** Reads a connection's peer address from the protocol's object, the first time it is asked for. */
export type PeerLookup<T> = (raw: T) => { address?: string; port?: number } | undefined;

/**
 * One tracked connection: the protocol's own object (`raw`) plus what the pool knows about it.
 * Fields are plain numbers updated in place, so tracking a request allocates nothing.
 */
export class PooledConnection<T> implements ConnectionInfo {
  /** @internal Set when the pool starts draining it. */
  draining = false;
  inFlight = 0;
  /** @internal Streams among `inFlight` (`beginStream`), so metrics can tell them from requests. */
  streamsInFlight = 0;
  requests = 0;
  messages = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** @internal `monotonicMs()` when the connection was admitted. */
  readonly startedMono: number;
  /** @internal `monotonicMs()` of the last activity (admission, end of work, pong...). */
  lastActivityMono: number;
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
  /**
   * @internal Links of the pool's connection list and of its connection-timeout queue. The pool
   * keeps its connections in these intrusive lists rather than a Map or Set: a hash table that
   * churns rehashes, and each table it leaves behind in old space keeps the sockets it held
   * reachable for the scavenger until the next full GC (measured: 3x the bytes promoted per
   * scavenge under a new connection per request). Cleared on removal for the same reason.
   */
  prev: PooledConnection<T> | undefined = undefined;
  /** @internal */
  next: PooledConnection<T> | undefined = undefined;
  /** @internal */
  pendingPrev: PooledConnection<T> | undefined = undefined;
  /** @internal */
  pendingNext: PooledConnection<T> | undefined = undefined;

  private peerAddress: string | undefined;
  private peerPort: number | undefined;
  // Typed without T so a PooledConnection<Socket> is still a PooledConnection<unknown>.
  private readonly peerLookup: PeerLookup<never> | undefined;

  /**
   * An address left `undefined` is read through `peerLookup` on first use: on a TCP socket that
   * is a `getpeername` system call, about 1 µs, which a connection nobody asks about never pays.
   */
  constructor(
    readonly id: number,
    readonly protocol: string,
    readonly raw: T,
    remoteAddress: string | undefined,
    remotePort: number | undefined,
    startedMono: number,
    peerLookup?: PeerLookup<T>,
  ) {
    this.peerLookup = peerLookup as PeerLookup<never> | undefined;
    this.startedMono = startedMono;
    this.lastActivityMono = startedMono;
    this.peerAddress = remoteAddress;
    this.peerPort = remotePort;
  }

  /** When it was admitted (ms since the epoch). */
  get startedAt(): number {
    return wallTimeOf(this.startedMono);
  }

  /** Its last activity (ms since the epoch): admitted, a unit of work ended, a pong... */
  get lastActivityAt(): number {
    return wallTimeOf(this.lastActivityMono);
  }

  /** `draining` once the pool drains it, else `active` with work in flight, else `idle` (derived, so tracking work writes no state). */
  get state(): ConnectionState {
    return this.draining ? 'draining' : this.inFlight > 0 ? 'active' : 'idle';
  }

  /** The peer's address (`''` if unknown). */
  get remoteAddress(): string {
    if (this.peerAddress === undefined) this.lookupPeer();
    return this.peerAddress as string;
  }

  /** The peer's port (0 if unknown). */
  get remotePort(): number {
    if (this.peerPort === undefined) this.lookupPeer();
    return this.peerPort as number;
  }

  private lookupPeer(): void {
    const peer = this.peerLookup?.(this.raw as never);
    this.peerAddress ??= peer?.address ?? '';
    this.peerPort ??= peer?.port ?? 0;
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
