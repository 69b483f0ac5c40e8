import type { Socket } from 'node:net';
import { monotonicMs } from '../../core/clock';

/**
 * TCP connections a WebSocket server's own listener accepted that have not reached their upgrade
 * yet (they are not pool connections until then). At close, node's `closeAllConnections()` would
 * cut them; one accepted just before the listener closed may hold its upgrade request unread (in
 * a cluster worker, handed over by the primary just before), and cutting it loses that request
 * without an answer. `settle` gives each one accepted within the grace until the grace's end to
 * send it: it is then answered as any upgrade in a drain (503, shutting down) and closed.
 */
export class ArrivingConnections {
  /** Each arriving socket with the time it was accepted (ms, monotonic). */
  private readonly sockets = new Map<Socket, number>();

  /** `clock`: whole milliseconds on a monotonic clock (tests pass a fake one). */
  constructor(private readonly clock: () => number = monotonicMs) {}

  /** Tracks `socket` until it upgrades (`upgraded`) or closes. */
  readonly accepted = (socket: Socket): void => {
    this.sockets.set(socket, this.clock());
    socket.once('close', () => this.sockets.delete(socket));
  };

  /** `socket` reached its upgrade: from here the upgrade path (and the pool) answers for it. */
  upgraded(socket: object): void {
    this.sockets.delete(socket as Socket);
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
