import type { Socket } from 'node:net';
import type { CloseReason } from '../../core/pool-types';
import { ConnectionPoolManager } from '../../core/connection-pool-manager';
import type { PooledConnection } from '../../core/pooled-connection';
import { HttpPoolConfig } from './http-config';

/** Pool of HTTP/1.1 connections (one TCP socket each). Also the base of the HTTPS pool. */
export class HttpConnectionPool<C extends HttpPoolConfig = HttpPoolConfig> extends ConnectionPoolManager<Socket, C> {
  readonly protocol: string = 'http';

  constructor(configClass: new () => C = HttpPoolConfig as new () => C) {
    super(configClass);
  }

  /**
   * Closes the socket once what was written is flushed. With nothing pending (an idle
   * keep-alive socket) it is destroyed at once, as node's own `closeIdleConnections` does:
   * `destroySoon` would first wait for a write shutdown round trip, which with a thousand idle
   * sockets in a drain costs tens of milliseconds.
   */
  protected closeConnection(conn: PooledConnection<Socket>, _reason: CloseReason): void {
    const socket = conn.raw;
    if (socket.writableLength === 0) socket.destroy();
    else socket.destroySoon();
  }

  protected destroyConnection(conn: PooledConnection<Socket>): void {
    conn.raw.destroy();
  }

  /**
   * A busy socket's current response gets `Connection: close` if its headers are not out yet;
   * either way the socket closes when its last response ends (see `endWork`). Idle sockets are
   * closed by the server through node's `closeIdleConnections()`, which knows what the pool
   * cannot: whether a request's first bytes have already arrived, so none is cut mid-headers.
   */
  protected override drainConnection(conn: PooledConnection<Socket>): void {
    if (conn.inFlight === 0) return;
    // `_httpMessage` is the response being written on this socket (stable in node:http since v0.x).
    const res = (conn.raw as Socket & { _httpMessage?: { headersSent: boolean; shouldKeepAlive: boolean } })._httpMessage;
    if (res && !res.headersSent) res.shouldKeepAlive = false;
  }

  protected override peerOf(socket: Socket): { address?: string; port?: number } {
    return { address: socket.remoteAddress, port: socket.remotePort };
  }

  protected override markIdleStart(conn: PooledConnection<Socket>): void {
    conn.bytesIn = conn.raw.bytesRead;
  }

  /** Bytes read while idle are the next request's first bytes: node emits 'request' only once its headers are complete. */
  protected override receivedSinceIdle(conn: PooledConnection<Socket>): boolean {
    return conn.raw.bytesRead !== conn.bytesIn;
  }

  protected override connectionBytes(conn: PooledConnection<Socket>): [number, number] {
    return [conn.raw.bytesRead, conn.raw.bytesWritten];
  }
}
