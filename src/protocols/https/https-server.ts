import type * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SecureContextOptions, Server as TlsServer, TLSSocket } from 'node:tls';
import type { PooledConnection } from '../../core/pooled-connection';
import { HttpServer } from '../http/http-server';
import type { HttpPoolConfig } from '../http/http-config';
import { HttpsPoolConfig, type HttpsTlsSettings } from './https-config';
import { HttpsConnectionPool } from './https-connection-pool';


/** Handshakes that may be in progress beyond maxConnections before new TCP connections are dropped. */
const MAX_PENDING_HANDSHAKES = 1024;
/** Node's own handshake bound, kept when `connectionTimeout` is 0: a handshake is never unbounded. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 120_000;

const HANDSHAKE_STARTED = Symbol('unipool.https.handshakeStarted');

type RawSocket = Socket & { [HANDSHAKE_STARTED]?: number };
/** `_parent` is the TCP socket a server-side TLSSocket wraps (set by node:tls since v0.11). */
type ServerTlsSocket = TLSSocket & { _parent?: RawSocket };

function handshakeTimeout(config: HttpsPoolConfig): number {
  return config.connectionTimeout > 0 ? config.connectionTimeout : DEFAULT_HANDSHAKE_TIMEOUT_MS;
}

/**
 * Node keeps the handshake timeout under a private symbol read for every new connection; setting
 * it lets a live `connectionTimeout` change bound later handshakes too. Without it (another Node
 * version) the bound set at listen time stays.
 */
function setServerHandshakeTimeout(server: object, ms: number): void {
  const key = Object.getOwnPropertySymbols(server).find((s) => s.description === 'handshake-timeout');
  if (key !== undefined) (server as Record<symbol, unknown>)[key] = ms;
}

/**
 * `tls.Server` keeps the last key it was given as `server.key`, read only while building a secure
 * context. Dropping it after each build keeps the PEM out of any inspection or log of the server
 * (the key lives on inside OpenSSL's context, where it belongs).
 */
function forgetKey(server: object): void {
  (server as { key?: unknown }).key = undefined;
}

/**
 * An HTTPS server on `node:https` whose connections `HttpsConnectionPool` admits and tracks
 * once their TLS handshake is done. Everything `HttpServer` does (503 + Retry-After at the
 * limit, timeouts, drain) works the same over TLS. Handshakes that fail or time out
 * (`connectionTimeout` bounds them) are counted by reason and never reach the handler.
 */
export abstract class HttpsServer extends HttpServer<HttpsPoolConfig> {
  static override readonly poolType: typeof HttpServer.poolType = HttpsConnectionPool;
  declare readonly pool: HttpsConnectionPool;

  /** TCP sockets still in their TLS handshake; the pool does not track them, so close() must. */
  private readonly handshaking = new Set<RawSocket>();

  protected override createNodeServer(options: http.ServerOptions): http.Server {
    const server = https.createServer({
      ...options,
      ...this.pool.secureContext(),
      requestCert: this.pool.config.tls.requestCert,
      // Enforced in onConnection instead, so that each refusal is counted with its reason.
      rejectUnauthorized: false,
      handshakeTimeout: handshakeTimeout(this.config),
    });
    forgetKey(server);
    server.on('connection', (socket: RawSocket) => this.onTcpConnection(socket));
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: ServerTlsSocket) => this.onTlsClientError(err, socket));
    return server as unknown as http.Server;
  }

  protected override get connectionEvent(): string {
    return 'secureConnection';
  }

  private onTcpConnection(socket: RawSocket): void {
    // Handshakes in progress are not pool connections yet; cap them so a flood of silent TCP
    // connects cannot exhaust file descriptors before the pool ever sees them.
    if (this.handshaking.size >= this.pool.config.maxConnections + MAX_PENDING_HANDSHAKES) {
      this.pool.reject('handshake_backlog');
      socket.destroy();
      return;
    }
    socket[HANDSHAKE_STARTED] = performance.now();
    this.handshaking.add(socket);
    socket.once('close', () => this.handshaking.delete(socket));
  }

  private onTlsClientError(err: NodeJS.ErrnoException, socket: ServerTlsSocket): void {
    if (socket._parent) this.handshaking.delete(socket._parent);
    this.pool.recordHandshakeFailure(err.code ?? 'unknown', err);
    socket.destroy();
  }

  /**
   * node's https server re-emits every `tlsClientError` as `clientError`; a failed handshake is
   * counted (once) by `onTlsClientError` and gets no plaintext 400 on a TLS socket.
   */
  protected override onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (!(socket as Socket & { _secureEstablished?: boolean })._secureEstablished) {
      socket.destroy();
      return;
    }
    super.onClientError(err, socket);
  }

  protected override onConnection(socket: Socket): PooledConnection<Socket> | undefined {
    const tlsSocket = socket as ServerTlsSocket;
    const raw = tlsSocket._parent;
    let handshakeMs: number | undefined;
    if (raw !== undefined) {
      this.handshaking.delete(raw);
      const started = raw[HANDSHAKE_STARTED];
      if (started !== undefined) handshakeMs = performance.now() - started;
    }
    const info = this.pool.recordHandshake(tlsSocket, handshakeMs);
    if (info.peerCertificate === 'unverified' && this.pool.config.tls.rejectUnauthorized) {
      this.pool.rejectClientCertificate(info.authorizationError ?? 'unknown', socket.remoteAddress);
      socket.destroy();
      return undefined;
    }
    const conn = super.onConnection(socket);
    if (conn !== undefined) conn.data = info;
    return conn;
  }

  override applyTimeouts(config: HttpPoolConfig): void {
    super.applyTimeouts(config);
    if (this.server) setServerHandshakeTimeout(this.server, handshakeTimeout(config as HttpsPoolConfig));
  }

  /** Serves a new certificate/key (called by the pool on reload); live connections keep theirs. */
  applySecureContext(options: SecureContextOptions, settings: HttpsTlsSettings): void {
    const server = this.server as unknown as (TlsServer & { requestCert?: boolean }) | undefined;
    if (!server) return;
    server.setSecureContext(options);
    forgetKey(server);
    server.requestCert = settings.requestCert;
  }

  override async close(): Promise<void> {
    for (const socket of this.handshaking) socket.destroy();
    this.handshaking.clear();
    await super.close();
  }
}
