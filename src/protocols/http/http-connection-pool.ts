import type { Socket } from 'node:net';
import type { CloseReason } from '../../core/pool-types';
import { ConnectionPoolManager } from '../../core/connection-pool-manager';
import type { PooledConnection } from '../../core/pooled-connection';
import { HttpPoolConfig } from './http-config';
import { NEWEST_RESPONSE, requestArriving, type HttpSocket } from './http-socket';

/** What the pool needs of a server that uses it: applying live timeout changes. */
export interface HttpTimeoutTarget {
  applyTimeouts(config: HttpPoolConfig): void;
}

/** Pool of HTTP/1.1 connections (one TCP socket each). Also the base of the HTTPS pool. */
export class HttpConnectionPool<C extends HttpPoolConfig = HttpPoolConfig> extends ConnectionPoolManager<Socket, C> {
  readonly protocol: string = 'http';
  /** Servers whose node timeouts follow this pool's config. */
  protected readonly servers = new Set<HttpTimeoutTarget>();

  constructor(configClass: new () => C = HttpPoolConfig as new () => C) {
    super(configClass);
  }

  /** @internal Registers a server whose node timeouts follow this pool's config. */
  attachServer(server: HttpTimeoutTarget): void {
    this.servers.add(server);
  }

  protected override applyConfig(_previous: C, next: C): void {
    for (const server of this.servers) server.applyTimeouts(next);
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
   * Drains one socket, deciding from the pool (not from node's `closeIdleConnections()`, which
   * counts a response as done once `end()` ran although its body may still be buffered):
   * - requests in flight: `Connection: close` goes on the newest one's response if its head is
   *   not out yet, so pipelined requests before it are all answered; the socket closes when its
   *   last response has been written (`endWork` -> `closeConnection`, after the flush);
   * - a request arriving (headers, or the unread body of one already answered): left to finish
   *   (it is answered with `Connection: close`) or to time out (`headersTimeout`, body linger);
   * - otherwise it holds no request (an idle keep-alive socket, a preconnect that never sent a
   *   byte): closed now.
   */
  protected override drainConnection(conn: PooledConnection<Socket>): void {
    const socket = conn.raw as HttpSocket;
    if (conn.inFlight > 0) {
      const newest = socket[NEWEST_RESPONSE];
      if (newest !== undefined && !newest.headersSent) newest.shouldKeepAlive = false;
      return;
    }
    if (requestArriving(socket, conn.requests === 0)) return;
    conn.closeReason = 'drain';
    this.closeConnection(conn, 'drain');
  }

  protected override peerOf(socket: Socket): { address?: string; port?: number } {
    return { address: socket.remoteAddress, port: socket.remotePort };
  }

  /**
   * Whether a request is arriving on a socket with nothing in flight: its idle timer then
   * restarts, and a connection timeout hands it over to `headersTimeout` (node's own check).
   */
  protected override receivedSinceIdle(conn: PooledConnection<Socket>): boolean {
    return requestArriving(conn.raw as HttpSocket, conn.requests === 0);
  }

  protected override connectionBytes(conn: PooledConnection<Socket>): [number, number] {
    return [conn.raw.bytesRead, conn.raw.bytesWritten];
  }
}
