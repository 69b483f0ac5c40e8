import { ServerPoolSettings } from '../../src/config/pool-config';
import { ConnectionPoolManager } from '../../src/core/connection-pool-manager';
import type { PoolHealthStatus } from '../../src/core/pool-health';
import type { CloseReason } from '../../src/core/pool-types';
import type { PooledConnection } from '../../src/core/pooled-connection';

/** A stand-in for a protocol connection: records what the pool did to it. */
export interface FakeConn {
  name: string;
  closed: boolean;
  destroyed: boolean;
  closeReason?: CloseReason;
  /** Set to say the bytes of a unit of work are arriving (what `receivedSinceIdle` reports). */
  arriving?: boolean;
}

/** Makes a fresh fake connection. */
export function fakeConn(name = 'c'): FakeConn {
  return { name, closed: false, destroyed: false };
}

/**
 * The smallest concrete pool: closing or destroying a connection calls `remove` at once, the way a
 * protocol server does from its socket's 'close' event (synchronously here, so tests stay on fake time).
 */
export class FakePool extends ConnectionPoolManager<FakeConn, ServerPoolSettings> {
  readonly protocol: string = 'fake';
  /** When false, `closeConnection` only marks the connection (its "socket" lingers until removed by hand). */
  removeOnClose = true;
  /** Extra health findings to report. */
  findings: Array<{ status: PoolHealthStatus; reason: string }> = [];
  /** Called from `applyConfig`; throw in it to refuse an update. */
  onApply: ((previous: ServerPoolSettings, next: ServerPoolSettings) => void) | undefined;
  readonly closedLog: Array<{ id: number; reason: CloseReason }> = [];
  readonly destroyedIds: number[] = [];

  constructor() {
    super(ServerPoolSettings);
  }

  /** A pool configured from plain settings (validated like at boot). */
  static with(settings: Record<string, unknown> = {}): FakePool {
    const pool = new FakePool();
    pool.configure(settings as unknown as ServerPoolSettings);
    return pool;
  }

  /** Exposes the protected walk for tests. */
  walk(fn: (conn: PooledConnection<FakeConn>) => void): void {
    this.forEachConnection(fn);
  }

  protected override applyConfig(previous: ServerPoolSettings, next: ServerPoolSettings): void {
    this.onApply?.(previous, next);
  }

  protected closeConnection(conn: PooledConnection<FakeConn>, reason: CloseReason): void {
    conn.raw.closed = true;
    conn.raw.closeReason = reason;
    this.closedLog.push({ id: conn.id, reason });
    if (this.removeOnClose) this.remove(conn);
  }

  protected destroyConnection(conn: PooledConnection<FakeConn>): void {
    conn.raw.destroyed = true;
    this.destroyedIds.push(conn.id);
    this.remove(conn);
  }

  protected override receivedSinceIdle(conn: PooledConnection<FakeConn>): boolean {
    return conn.raw.arriving === true;
  }

  protected override healthFindings(): ReadonlyArray<{ status: PoolHealthStatus; reason: string }> {
    return this.findings;
  }
}
