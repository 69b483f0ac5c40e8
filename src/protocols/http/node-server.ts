import type * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import type { ServerPoolSettings } from '../../config/pool-config';
import type { ConnectionPoolManager } from '../../core/connection-pool-manager';
import { ManagedServer } from '../../core/managed-server';
import { listenServer } from '../../core/listen-server';

/** Status Node's own server sends for each client error code; the rest get 400. */
const CLIENT_ERROR_STATUS: Record<string, string> = {
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: '413 Payload Too Large',
};

/**
 * How often node checks header and request timeouts: a quarter of the shortest one, between
 * 50 ms and 1 s, so a timeout fires promptly without a busy timer.
 */
export function connectionsCheckingInterval(shortestTimeoutMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(shortestTimeoutMs / 4)));
}

/**
 * Stops listening only; resolves once every connection is gone. (`http.Server#close` would also
 * drop idle sockets and stop the headers-timeout checks, both of which a drain still needs.)
 */
export function stopListening(server: net.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    net.Server.prototype.close.call(server, () => resolve());
  });
}

/** Answers a malformed or too slow request as node would (408, 431, 413 or 400) and closes the socket. */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (socket.writable && !(socket as Socket & { _httpMessage?: http.ServerResponse })._httpMessage?.headersSent) {
    const status = CLIENT_ERROR_STATUS[err.code ?? ''] ?? '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
  socket.destroySoon();
}

/**
 * Base of the servers that run on a `node:http` (or `node:https`) server: binding, stop
 * accepting, close and address, shared so each protocol only says how it admits and serves.
 */
export abstract class NodeHttpServer<P extends ConnectionPoolManager<unknown, ServerPoolSettings>, C extends ServerPoolSettings> extends ManagedServer<P, C> {
  /** The node server, once `listen` ran. */
  protected server: http.Server | undefined;
  private closed: Promise<void> | undefined;

  /**
   * Binds `server` to the configured address and tells the pool it is listening. From here to
   * `close`, the server is attached to its pool (it follows changes of the pool's keys).
   */
  protected async bind(server: http.Server): Promise<void> {
    this.server = server;
    this.pool.attachServer(this);
    await listenServer(server, this.name, this.config.host, this.config.port);
    this.pool.setListening(true);
  }

  async stopAccepting(): Promise<void> {
    const server = this.server;
    if (!server || this.closed) return;
    this.closed = stopListening(server);
    this.pool.setListening(false);
  }

  /** Releases sockets the pool does not track (refused ones, say) before the server closes. */
  protected releaseUntracked(): void {}

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.pool.detachServer(this);
    this.releaseUntracked();
    if (!this.closed) await this.stopAccepting();
    server.closeAllConnections();
    server.close(); // http.Server's close: stops its connection-checking timer
    await this.closed;
  }

  address(): AddressInfo | undefined {
    const addr = this.server?.address();
    return addr && typeof addr === 'object' ? addr : undefined;
  }
}
