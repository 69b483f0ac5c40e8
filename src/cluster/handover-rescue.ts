import type { ChildProcess } from 'node:child_process';
import type { Worker } from 'node:cluster';
import type { Logger } from '../core/logger';

/** A connection the primary accepted (a libuv TCP handle), as node:cluster passes it to a worker. */
interface ConnectionHandle {
  close(): void;
}

/** node:cluster's hand-over of one connection to a worker (`newconn`, lib/internal/cluster/round_robin_handle.js). */
interface NewConnMessage {
  cmd: 'NODE_CLUSTER';
  act: 'newconn';
  key: string;
  seq: number | string;
}

/** A connection handed to a worker that has not said whether it took it. */
interface HandedOver {
  handle: ConnectionHandle;
  key: string;
}

function isNewConn(message: unknown): message is NewConnMessage {
  const m = message as Partial<NewConnMessage> | null;
  return typeof m === 'object' && m !== null && m.cmd === 'NODE_CLUSTER' && m.act === 'newconn' && typeof m.key === 'string';
}

function isHandle(handle: unknown): handle is ConnectionHandle {
  return typeof handle === 'object' && handle !== null && typeof (handle as ConnectionHandle).close === 'function';
}

/** A worker's answer to a hand-over (`{ ack: seq, accepted }`), or undefined. */
function ackOf(message: unknown): { ack: unknown; accepted: boolean } | undefined {
  const m = message as { cmd?: unknown; ack?: unknown; accepted?: unknown } | null;
  if (typeof m !== 'object' || m === null || m.cmd !== 'NODE_CLUSTER' || m.ack === undefined) return undefined;
  return { ack: m.ack, accepted: m.accepted === true };
}

/** What the primary counts of rescues (`/metrics`). */
export interface RescueStats {
  /** Connections a dead worker never took, handed to a live worker. */
  rescued: number;
  /** Such connections no live worker took: closed, so their client sees the end at once. */
  dropped: number;
}

/**
 * node:cluster's round robin hands each connection the primary accepts to a worker (`newconn`)
 * and waits for the worker's answer before it lets go of it. A worker that dies first (SIGKILL,
 * a crash) never answers, and node keeps that connection in the primary for ever, its request
 * unread: the client waits until its own timeout. This watches each worker's hand-overs (node's
 * own messages on its IPC channel, read, never changed) and, once a worker has exited and its
 * channel has closed, offers every connection it never answered for to the live workers in
 * turn, as node's round robin would, then closes the primary's copy (a worker that took it has
 * its own). A connection no worker takes is closed, so its client sees the end at once.
 * Messages of another shape (a node that changed them) are passed on untouched: then nothing is
 * rescued.
 */
export class HandoverRescue {
  readonly stats: RescueStats = { rescued: 0, dropped: 0 };
  private nextOffer = 1;
  /** Offers waiting for a live worker's answer, by their `seq`. */
  private readonly offers = new Map<string, (accepted: boolean) => void>();

  /** `liveWorkers(dead)`: the workers to offer a dead one's connections to, best first. */
  constructor(
    private readonly liveWorkers: (dead: Worker) => Worker[],
    private readonly logger: Logger,
  ) {}

  /** Watches `worker`'s hand-overs from its fork until its channel closes. */
  watch(worker: Worker): void {
    const proc = worker.process as ChildProcess;
    if (typeof proc.send !== 'function') return;
    const pending = new Map<unknown, HandedOver>();
    const send = proc.send;
    proc.send = function (this: ChildProcess, message: unknown, handle?: unknown, ...rest: unknown[]): boolean {
      // node's own hand-overs carry a numeric seq; this class's offers a string one (not tracked here).
      if (isNewConn(message) && typeof message.seq === 'number' && isHandle(handle)) pending.set(message.seq, { handle, key: message.key });
      return (send as (...args: unknown[]) => boolean).call(this, message, handle, ...rest);
    } as ChildProcess['send'];
    proc.on('internalMessage', (message: unknown) => {
      const ack = ackOf(message);
      if (!ack) return;
      pending.delete(ack.ack);
      if (typeof ack.ack === 'string') this.offers.get(ack.ack)?.(ack.accepted);
    });
    // 'close': the process has exited and its channel reached its end, so every answer the
    // worker wrote has been read. ('disconnect' may never come: node holds it back while a
    // handle it sent waits for its acknowledgement, which a dead worker never sends.)
    // One more turn first: answers read in the channel's last chunk are emitted on the next tick.
    proc.once('close', () =>
      setImmediate(() => {
        if (pending.size === 0) return;
        const stuck = [...pending.values()];
        pending.clear();
        void this.rescue(worker, stuck);
      }),
    );
  }

  private async rescue(dead: Worker, stuck: HandedOver[]): Promise<void> {
    const taken = await Promise.all(stuck.map((conn) => this.place(dead, conn)));
    const rescued = taken.filter(Boolean).length;
    this.stats.rescued += rescued;
    this.stats.dropped += stuck.length - rescued;
    this.logger.warn({ worker: dead.id, pid: dead.process.pid, rescued, dropped: stuck.length - rescued }, 'cluster worker left connections it was handed and never took: handed to live workers');
  }

  /** Offers `conn` to the live workers in turn until one takes it, then closes the primary's copy; resolves whether one took it. */
  private async place(dead: Worker, conn: HandedOver): Promise<boolean> {
    let taken = false;
    for (const target of this.liveWorkers(dead)) {
      if (await this.offer(target, conn)) {
        taken = true;
        break;
      }
    }
    conn.handle.close();
    return taken;
  }

  /**
   * Hands `conn` to `target` as node's round robin does; resolves whether it took it. There is
   * no timeout: a worker that is slow to answer may still take the connection, and offering it
   * elsewhere meanwhile would give one socket to two workers. The offer ends with the answer, or
   * with the end of the target (its 'close': every answer it wrote has been read by then).
   */
  private offer(target: Worker, conn: HandedOver): Promise<boolean> {
    const seq = `unipool-rescue-${this.nextOffer++}`;
    const proc = target.process;
    return new Promise<boolean>((resolve) => {
      const gone = (): void => {
        setImmediate(() => done(false));
      };
      const done = (accepted: boolean): void => {
        if (!this.offers.delete(seq)) return;
        proc.off('close', gone);
        resolve(accepted);
      };
      this.offers.set(seq, done);
      if (!target.isConnected()) return done(false);
      proc.once('close', gone);
      try {
        proc.send({ cmd: 'NODE_CLUSTER', act: 'newconn', key: conn.key, seq }, conn.handle as never);
      } catch {
        done(false);
      }
    });
  }
}
