import type { Socket } from 'node:net';
import { monotonicMs } from '../../core/clock';

/**
 * TCP connections a server's own listener accepted that are not pool connections yet: a
 * WebSocket server's before their upgrade, an HTTPS server's in their TLS handshake. At close,
 * the server would cut them; one accepted just before the listener closed may hold its upgrade
 * request or its ClientHello unread (in a cluster worker, handed over by the primary just
 * before), and cutting it loses that request without an answer. `settle` gives each one accepted
 * within the grace until the grace's end to get its answer (in a drain, 503: shutting down) and
 * close; what is left is then cut.
 */
export class ArrivingConnections {
  /** Each arriving socket with the time it was accepted (ms, monotonic). */
  private readonly sockets = new Map<Socket, number>();

  /** `clock`: whole milliseconds on a monotonic clock (tests pass a fake one). */
  constructor(private readonly clock: () => number = monotonicMs) {}

  /** Tracks `socket` until it arrives (`arrived`) or closes. */
  readonly accepted = (socket: Socket): void => {
    this.sockets.set(socket, this.clock());
    socket.once('close', () => this.sockets.delete(socket));
  };

  /** `socket` arrived (upgrade request read, handshake done or failed): from here the server and its pool answer for it. */
  arrived(socket: object): void {
    if (!this.sockets.delete(socket as Socket)) return;
    const waiting = this.waiting;
    if (waiting === undefined) return;
    const done = waiting.get(socket as Socket);
    if (done === undefined) return;
    waiting.delete(socket as Socket);
    done();
  }

  /** While `settleArrivals` waits: what ends each awaited socket's wait when it arrives. */
  private waiting: Map<Socket, () => void> | undefined;

  /** Connections arriving now. */
  get size(): number {
    return this.sockets.size;
  }

  /** Destroys every connection still arriving (at close, once `settle` is done). */
  destroyAll(): void {
    for (const socket of this.sockets.keys()) socket.destroy();
    this.sockets.clear();
  }

  /**
   * Resolves once every socket accepted less than `graceMs` ago has arrived (or closed), or when
   * the last one's grace ends: a server that waits for it before its pool drains admits them as
   * ordinary connections, and the drain then answers their request instead of refusing it.
   */
  settleArrivals(graceMs: number): Promise<void> {
    const now = this.clock();
    const waiting: Array<Promise<unknown>> = [];
    let latest = -Infinity;
    const ends = (this.waiting ??= new Map());
    for (const [socket, acceptedAt] of this.sockets) {
      if (now - acceptedAt >= graceMs || socket.destroyed) continue;
      latest = Math.max(latest, acceptedAt);
      waiting.push(
        new Promise<void>((resolve) => {
          ends.set(socket, resolve);
          socket.once('close', () => resolve());
        }),
      );
    }
    if (waiting.length === 0) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const graceEnd = new Promise((resolve) => (timer = setTimeout(resolve, latest + graceMs - now)));
    return Promise.race([Promise.all(waiting), graceEnd]).then(() => {
      clearTimeout(timer);
      this.waiting = undefined;
    });
  }

  /** Resolves once every socket accepted less than `graceMs` ago has closed, or when the last one's grace ends. */
  settle(graceMs: number): Promise<void> {
    const now = this.clock();
    const waiting: Array<Promise<unknown>> = [];
    let latest = -Infinity;
    for (const [socket, acceptedAt] of this.sockets) {
      if (now - acceptedAt >= graceMs || socket.destroyed) continue;
      latest = Math.max(latest, acceptedAt);
      waiting.push(new Promise((resolve) => socket.once('close', resolve)));
    }
    if (waiting.length === 0) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const graceEnd = new Promise((resolve) => (timer = setTimeout(resolve, latest + graceMs - now)));
    return Promise.race([Promise.all(waiting), graceEnd]).then(() => clearTimeout(timer));
  }
}
