import type { PooledConnection } from './pooled-connection';

/**
 * A pool's live connections, oldest first: an intrusive doubly linked list through each
 * connection's own `prev`/`next` fields, so adding and removing are O(1) and allocate nothing
 * (a churning Map or Set would rehash and leave tables behind that keep sockets reachable; see
 * `PooledConnection.prev`). Each connection knows the pool that admitted it (`owner`); the
 * manager checks it before `unlink`, since unlinking another list's entry would corrupt both.
 *
 * Walks that run often (heartbeat, broadcast) go through `forEach`, which needs no snapshot; a
 * cursor kept valid by `unlink` lets the callback close or remove any connection.
 */
export class ConnectionList<T> {
  /** @internal Oldest live connection (read by walks that need no callback, such as metrics). */
  head: PooledConnection<T> | undefined = undefined;
  private tail: PooledConnection<T> | undefined = undefined;
  private count = 0;
  /** The next connection of the walk in progress (`forEach`), kept valid by `unlink`. */
  private cursor: PooledConnection<T> | undefined = undefined;
  private walking = false;

  /** Connections in the list. */
  get size(): number {
    return this.count;
  }

  /** Appends a connection (the newest). */
  link(conn: PooledConnection<T>): void {
    conn.prev = this.tail;
    if (this.tail !== undefined) this.tail.next = conn;
    else this.head = conn;
    this.tail = conn;
    this.count++;
    if (this.walking && this.cursor === undefined) this.cursor = conn; // the walk was at its end
  }

  /** Takes a linked connection out; its links are cleared so it keeps nothing reachable. */
  unlink(conn: PooledConnection<T>): void {
    const { prev, next } = conn;
    if (this.cursor === conn) this.cursor = next;
    if (prev !== undefined) prev.next = next;
    else this.head = next;
    if (next !== undefined) next.prev = prev;
    else this.tail = prev;
    conn.prev = undefined;
    conn.next = undefined;
    this.count--;
  }

  /** The connections now, oldest first (O(n): drain, `/status`, tools). */
  snapshot(): PooledConnection<T>[] {
    const out = new Array<PooledConnection<T>>(this.count);
    let i = 0;
    for (let conn = this.head; conn !== undefined; conn = conn.next) out[i++] = conn;
    return out;
  }

  /** The connection with this id, by a walk (tools and tests, not the hot path). */
  find(id: number): PooledConnection<T> | undefined {
    for (let conn = this.head; conn !== undefined; conn = conn.next) if (conn.id === id) return conn;
    return undefined;
  }

  /**
   * Calls `fn` for each connection, oldest first, without a snapshot. `fn` may close or remove
   * any connection: one removed before its turn is skipped, one added during the walk is
   * visited. A walk started inside another (a broadcast from an event listener during the
   * heartbeat, say) goes over a snapshot, so the one cursor always belongs to the outermost walk.
   */
  forEach(fn: (conn: PooledConnection<T>) => void): void {
    if (this.walking) {
      for (const conn of this.snapshot()) if (!conn.removed) fn(conn);
      return;
    }
    this.walking = true;
    try {
      for (let conn = this.head; conn !== undefined; conn = this.cursor) {
        this.cursor = conn.next;
        fn(conn);
      }
    } finally {
      this.walking = false;
      this.cursor = undefined;
    }
  }
}
