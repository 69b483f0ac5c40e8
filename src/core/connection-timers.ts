import { monotonicMs } from './clock';
import type { PooledConnection } from './pooled-connection';

/** What the connection timers ask of their pool. */
export interface ConnectionTimerHost<T> {
  /** The timeouts in force now (ms; 0 turns one off). */
  timeouts(): { readonly connectionTimeout: number; readonly idleTimeout: number };
  /** Whether the pool is destroyed (timers then do nothing). */
  destroyed(): boolean;
  /** Whether data arrived since the connection went idle (its next unit of work is arriving). */
  receivedSinceIdle(conn: PooledConnection<T>): boolean;
  /** Notes where the connection stood when it went idle. */
  markIdleStart(conn: PooledConnection<T>): void;
  /** Its first unit of work is arriving: the connection timeout ends, the idle one takes over. */
  markEstablished(conn: PooledConnection<T>): void;
  /** A connection timed out (`connection`: sent nothing in time; `idle`): count it and close it. */
  timedOut(conn: PooledConnection<T>, kind: 'connection' | 'idle'): void;
}

/**
 * A pool's connection timeouts: the connection timeout (a connection that starts no unit of
 * work in time) and the idle timeout (a connection with nothing in flight for too long).
 *
 * - Connections waiting out the connection timeout all wait the same time, so they queue oldest
 *   first (an intrusive list through `pendingPrev`/`pendingNext`) and one timer serves them all:
 *   admitting a connection allocates no timer.
 * - An idle timer that is running is left alone when work ends: when it fires it compares the
 *   connection's last activity with the timeout and waits out the rest, so a unit of work that
 *   ends costs no timer operation.
 */
export class ConnectionTimers<T> {
  private pendingHead: PooledConnection<T> | undefined = undefined;
  private pendingTail: PooledConnection<T> | undefined = undefined;
  private pendingTimer: NodeJS.Timeout | undefined = undefined;

  constructor(private readonly host: ConnectionTimerHost<T>) {}

  /** Starts the timer a connection needs now: the connection timeout until its first work, then the idle one. */
  rearm(conn: PooledConnection<T>): void {
    this.clear(conn);
    const { connectionTimeout, idleTimeout } = this.host.timeouts();
    if (!conn.started && connectionTimeout > 0) {
      conn.timerKind = 'connection';
      this.pend(conn);
      this.schedulePending(false);
    } else if (idleTimeout > 0) {
      this.startIdleTimer(conn, idleTimeout);
    }
  }

  /**
   * Starts the idle timer of a connection that just went idle, unless one runs (it waits out the
   * rest when it fires). A timer that lapsed while the connection was busy is started anew.
   */
  armIdle(conn: PooledConnection<T>): void {
    if (conn.timerKind !== 'idle' && this.host.timeouts().idleTimeout > 0) this.rearm(conn);
  }

  /** Ends the connection timeout of a connection whose first work started (or whose handshake is done). */
  endConnectionTimeout(conn: PooledConnection<T>): void {
    if (conn.timerKind === 'connection') {
      this.unpend(conn);
      conn.timerKind = undefined;
    }
  }

  /** Stops whatever timer a connection has (it closed). */
  clear(conn: PooledConnection<T>): void {
    if (conn.timerKind === 'connection') this.unpend(conn);
    else if (conn.timer) clearTimeout(conn.timer);
    conn.timer = undefined;
    conn.timerKind = undefined;
  }

  /** The timeouts changed: every connection's timer is started anew, and the shared one re-aimed. */
  reconfigure(connections: readonly PooledConnection<T>[]): void {
    for (const conn of connections) this.rearm(conn);
    this.schedulePending(true);
  }

  /** Stops the shared timer (the pool is destroyed). */
  close(): void {
    if (this.pendingTimer) clearTimeout(this.pendingTimer);
    this.pendingTimer = undefined;
  }

  private startIdleTimer(conn: PooledConnection<T>, ms: number): void {
    conn.timerKind = 'idle';
    conn.timer = setTimeout(() => this.onTimer(conn), ms).unref();
  }

  /**
   * Takes a connection off the connection-timeout queue. The shared timer is left to fire and
   * find nothing due: clearing it whenever the queue empties would cost a timer per connection
   * again under churn (connections start their first request within microseconds).
   */
  private unpend(conn: PooledConnection<T>): void {
    const prev = conn.pendingPrev;
    if (prev === undefined && this.pendingHead !== conn) return; // not queued
    const next = conn.pendingNext;
    if (prev !== undefined) prev.pendingNext = next;
    else this.pendingHead = next;
    if (next !== undefined) next.pendingPrev = prev;
    else this.pendingTail = prev;
    conn.pendingPrev = undefined;
    conn.pendingNext = undefined;
  }

  /** Appends a connection to the connection-timeout queue (the newest waits longest). */
  private pend(conn: PooledConnection<T>): void {
    conn.pendingPrev = this.pendingTail;
    if (this.pendingTail !== undefined) this.pendingTail.pendingNext = conn;
    else this.pendingHead = conn;
    this.pendingTail = conn;
  }

  /** Keeps the one connection-timeout timer aimed at the oldest waiting connection. */
  private schedulePending(reset: boolean): void {
    if (reset && this.pendingTimer) {
      clearTimeout(this.pendingTimer);
      this.pendingTimer = undefined;
    }
    const oldest = this.pendingHead;
    if (this.pendingTimer || oldest === undefined || this.host.destroyed()) return;
    const due = oldest.startedMono + this.host.timeouts().connectionTimeout - monotonicMs();
    this.pendingTimer = setTimeout(() => this.onPendingTimer(), Math.max(0, due)).unref();
  }

  private onPendingTimer(): void {
    this.pendingTimer = undefined;
    const deadline = monotonicMs() - this.host.timeouts().connectionTimeout;
    for (let conn = this.pendingHead; conn !== undefined && conn.startedMono <= deadline; conn = this.pendingHead) {
      this.unpend(conn);
      conn.timerKind = 'connection';
      this.onTimer(conn);
    }
    this.schedulePending(false);
  }

  private onTimer(conn: PooledConnection<T>): void {
    const host = this.host;
    if (conn.removed || host.destroyed()) return;
    const kind = conn.timerKind === 'connection' ? 'connection' : 'idle';
    if (kind === 'connection' && host.receivedSinceIdle(conn)) {
      // Not a connection that sends nothing: its first unit of work is arriving, and the
      // protocol's own timeouts for it (HTTP: headersTimeout, answered 408) govern from here.
      conn.timerKind = undefined;
      host.markEstablished(conn);
      return;
    }
    if (kind === 'idle') {
      // A busy connection is never idle: the timer lapses, and `armIdle` restarts it when the
      // work ends.
      if (conn.inFlight > 0) {
        conn.timer = undefined;
        conn.timerKind = undefined;
        return;
      }
      // Work ended or a pong came since the timer started: idle time counts from the last activity.
      const { idleTimeout } = host.timeouts();
      const remaining = conn.lastActivityMono + idleTimeout - monotonicMs();
      if (remaining > 0) {
        this.startIdleTimer(conn, remaining);
        return;
      }
      if (host.receivedSinceIdle(conn)) {
        // The next unit of work is arriving (a request's headers, say) but has not started yet.
        host.markIdleStart(conn);
        this.startIdleTimer(conn, idleTimeout);
        return;
      }
    }
    conn.timer = undefined;
    conn.timerKind = undefined;
    host.timedOut(conn, kind);
  }
}
