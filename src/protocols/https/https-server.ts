import type * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Server as TlsServer, TlsOptions, TLSSocket } from 'node:tls';
import type { ServerPoolSettings } from '../../config/pool-config';
import type { PooledConnection } from '../../core/pooled-connection';
import type { ConfigUpdateResult } from '../../core/pool-types';
import { ConfigValidationError, TlsMaterialError } from '../../errors';
import { ArrivingConnections } from '../http/arriving-connections';
import { DRAIN_KEEP_ALIVE_GRACE_MS, type HttpConnectionPool } from '../http/http-connection-pool';
import { HttpServer } from '../http/http-server';
import { HttpsPoolConfig, type HttpsTlsSettings } from './https-config';
import type { HttpPoolConfig } from '../http/http-config';
import { HttpsConnectionPool, type CertificateServer, type TlsConnectionInfo } from './https-connection-pool';
import { describeCertificate, loadTlsMaterial, readTlsMaterial, sameMaterial, secureContextOptions, type TlsMaterial } from '../../config/tls-material';

/** Handshakes that may be in progress beyond maxConnections before new TCP connections are dropped. */
const MAX_PENDING_HANDSHAKES = 1024;
/** Node's own handshake bound, kept when `connectionTimeout` is 0: a handshake is never unbounded. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 120_000;

const HANDSHAKE_STARTED = Symbol('unipool.https.handshakeStarted');

type RawSocket = Socket & { [HANDSHAKE_STARTED]?: number };
/** `_parent` is the TCP socket a server-side TLSSocket wraps (set by node:tls since v0.11). */
type ServerTlsSocket = TLSSocket & { _parent?: RawSocket };
/** The handshake facts of a TLS socket, until its connection (if admitted) holds them. */
const TLS_INFO = Symbol('unipool.https.tlsInfo');
type InfoSocket = Socket & { [TLS_INFO]?: TlsConnectionInfo };

/** What a TLS server built on `HttpsServer` reads: an HTTP section with a `tls` block (absent: no TLS, HTTP/2's h2c). */
export type TlsServerConfig = HttpPoolConfig & { readonly tls?: HttpsTlsSettings };

/** The pool's `connectionTimeout` bounds the handshake (a pool key: every server on the pool follows it). */
function handshakeTimeout(config: ServerPoolSettings): number {
  return config.connectionTimeout > 0 ? config.connectionTimeout : DEFAULT_HANDSHAKE_TIMEOUT_MS;
}

/** The settings that decide the secure context (the expiry threshold does not). */
function contextKey(s: HttpsTlsSettings): string {
  return JSON.stringify([s.cert, s.key, s.ca, s.minVersion, s.ciphers, s.requestCert]);
}

/** Whether an update failed because of the `tls` block (counted as a refused certificate reload). */
function isTlsRefusal(err: unknown): boolean {
  if (err instanceof TlsMaterialError) return true;
  return err instanceof ConfigValidationError && err.problems.some((p) => /^[^.]+\.tls\./.test(p.path));
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
 *
 * The certificate, key and client-certificate policy come from this server's own section
 * (`tls`), so two HTTPS servers sharing one pool can serve different certificates; a change of
 * the `tls` block (or of the files it names) is applied live by `updateConfig` or a reload.
 */
export abstract class HttpsServer<P extends HttpsConnectionPool<TlsServerConfig> = HttpsConnectionPool, C extends TlsServerConfig = HttpsPoolConfig> extends HttpServer<P, C> implements CertificateServer {
  static override readonly poolType: typeof HttpServer.poolType = HttpsConnectionPool;
  static override readonly configSection: string | undefined = 'https';

  /** Certificate and key in use: an ES private field, so no serialisation or inspection of the server shows the key. */
  #material: TlsMaterial | undefined;
  /** Material read by `secureServerOptions`, served once `watchHandshakes` has the server. */
  #pendingMaterial: TlsMaterial | undefined;

  /** TCP sockets still in their TLS handshake; the pool does not track them, so close() must. */
  private readonly handshaking = new ArrivingConnections();

  protected override createNodeServer(options: http.ServerOptions): http.Server {
    const server = https.createServer({ ...options, ...this.secureServerOptions(this.tlsSettings()) });
    this.watchHandshakes(server, this.tlsSettings());
    return server as unknown as http.Server;
  }

  /** This server's `tls` block (an HTTPS section always has one; HTTP/2 in h2c mode has none and never asks). */
  private tlsSettings(): HttpsTlsSettings {
    return this.config.tls as HttpsTlsSettings;
  }

  /**
   * The TLS options of the node server: certificate and key from `tls` (read once, during
   * validation), policy, handshake bound. Shared with HTTP/2's secure server.
   */
  protected secureServerOptions(tls: HttpsTlsSettings): TlsOptions {
    // Validation already read and proved the files of this section; this reuses that read.
    const material = loadTlsMaterial(tls);
    this.#pendingMaterial = material;
    return {
      ...secureContextOptions(tls, material),
      requestCert: tls.requestCert,
      // Enforced in onConnection instead, so that each refusal is counted with its reason.
      rejectUnauthorized: false,
      handshakeTimeout: handshakeTimeout(this.pool.config),
    };
  }

  /** Follows the handshakes of `server` (made with `secureServerOptions`): timing, failures, backlog. */
  protected watchHandshakes(server: TlsServer, tls: HttpsTlsSettings): void {
    if (this.#pendingMaterial) this.setMaterial(this.#pendingMaterial, tls);
    this.#pendingMaterial = undefined;
    forgetKey(server);
    server.on('connection', (socket: RawSocket) => this.onTcpConnection(socket));
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: ServerTlsSocket) => this.onTlsClientError(err, socket));
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
    this.handshaking.accepted(socket);
  }

  /** TCP connections in their TLS handshake now. */
  get handshakesInProgress(): number {
    return this.handshaking.size;
  }

  private onTlsClientError(err: NodeJS.ErrnoException, socket: ServerTlsSocket): void {
    const raw = socket._parent;
    const started = raw?.[HANDSHAKE_STARTED];
    if (raw) this.handshaking.arrived(raw);
    this.pool.recordHandshakeFailure(err.code ?? 'unknown', err, started === undefined ? undefined : performance.now() - started);
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
    const tls = this.config.tls;
    if (tls === undefined) return super.onConnection(socket);
    const tlsSocket = socket as ServerTlsSocket;
    const raw = tlsSocket._parent;
    let handshakeMs: number | undefined;
    if (raw !== undefined) {
      this.handshaking.arrived(raw);
      const started = raw[HANDSHAKE_STARTED];
      if (started !== undefined) handshakeMs = performance.now() - started;
    }
    const info = this.pool.recordHandshake(tlsSocket, handshakeMs, tls.requestCert);
    if (info.peerCertificate === 'unverified' && tls.rejectUnauthorized) {
      this.pool.rejectClientCertificate(info.authorizationError ?? 'unknown', socket.remoteAddress);
      socket.destroy();
      return undefined;
    }
    (socket as InfoSocket)[TLS_INFO] = info;
    return super.onConnection(socket);
  }

  /** An admitted TLS socket's connection carries its handshake facts (now, or once a deferred refusal admits it). */
  protected override attach(socket: Socket, conn: PooledConnection<Socket>, pool: HttpConnectionPool<HttpPoolConfig>): void {
    super.attach(socket, conn, pool);
    const info = (socket as InfoSocket)[TLS_INFO];
    if (info !== undefined) conn.data = info;
  }

  /** The handshake bound follows the pool's `connectionTimeout`. */
  override applyPoolConfig(previous: ServerPoolSettings, next: ServerPoolSettings): void {
    super.applyPoolConfig(previous, next);
    if (this.server) setServerHandshakeTimeout(this.server, handshakeTimeout(next));
  }

  /**
   * A changed `tls` block (or files renewed at the same paths) is proven (files read, key matches
   * certificate) by validation; here it is served with `setSecureContext`. Live connections keep
   * the session they negotiated.
   */
  protected override applyServerConfig(previous: C, next: C, changed: readonly string[]): void {
    super.applyServerConfig(previous, next, changed);
    if (!changed.includes('tls') || !this.server || previous.tls === undefined || next.tls === undefined) return;
    const material = loadTlsMaterial(next.tls);
    if (contextKey(previous.tls) !== contextKey(next.tls) || !sameMaterial(this.#material, material)) this.install(next.tls, material);
    else this.setMaterial(material, next.tls);
  }

  /** A certificate renewed in place (same paths, new files) counts as a `tls` change. */
  protected override changedOutsideConfig(_previous: C, next: C): string[] {
    return this.#material !== undefined && next.tls !== undefined && !sameMaterial(this.#material, loadTlsMaterial(next.tls)) ? ['tls'] : [];
  }

  /** Counts a refused certificate change, then rethrows. */
  override updateConfig(partial: Partial<Record<keyof C, unknown>> | Record<string, unknown>): ConfigUpdateResult {
    try {
      return super.updateConfig(partial);
    } catch (err) {
      if (isTlsRefusal(err)) this.pool.recordCertificateReload(false);
      throw err;
    }
  }

  /**
   * Re-reads this server's certificate, key and CA files and serves them if they changed.
   * Returns whether a new certificate is served. Throws `TlsMaterialError` (and keeps the served
   * one) if the files are unreadable or the key does not match the certificate.
   */
  reloadCertificate(): boolean {
    const settings = this.config.tls;
    if (settings === undefined) return false;
    let material: TlsMaterial;
    try {
      material = readTlsMaterial(settings);
    } catch (err) {
      this.pool.recordCertificateReload(false);
      throw err;
    }
    if (sameMaterial(this.#material, material)) return false;
    this.install(settings, material);
    return true;
  }

  /** Serves a new certificate/key on this server; live connections keep theirs. */
  private install(settings: HttpsTlsSettings, material: TlsMaterial): void {
    const server = this.server as unknown as (TlsServer & { requestCert?: boolean }) | undefined;
    if (!server) return;
    server.setSecureContext(secureContextOptions(settings, material));
    forgetKey(server);
    server.requestCert = settings.requestCert;
    this.setMaterial(material, settings);
    this.pool.recordCertificateReload(true);
  }

  private setMaterial(material: TlsMaterial, settings: HttpsTlsSettings): void {
    this.#material = material;
    this.pool.registerCertificate(this, describeCertificate(material.cert), settings.certExpiryWarningDays);
  }

  /**
   * Closes the listener, then gives every TLS handshake accepted in the last 500 ms until then to
   * finish before the pool starts draining: such a connection (in a cluster worker, handed over by
   * the primary just before the listener closed) is admitted as any other and its request is then
   * served by the drain (`Connection: close`; over HTTP/2, its first stream with the GOAWAYs).
   * Refused by a draining pool, it got `503`. Not in a forced stop.
   */
  override async stopAccepting(): Promise<void> {
    await super.stopAccepting();
    if (!this.pool.wasForced && !this.pool.isDraining) await this.handshaking.settleArrivals(DRAIN_KEEP_ALIVE_GRACE_MS);
  }

  override async close(): Promise<void> {
    if (this.server) this.pool.unregisterCertificate(this);
    // A handshake that began just before the listener closed may be a client whose request
    // follows (its ClientHello unread when the drain started; in a cluster worker, a connection
    // the primary handed over just before): it gets until the drain grace ends to finish and be
    // answered (503 in a drain) before what is left is cut. Not in a forced stop: that cuts at once.
    if (!this.pool.wasForced) await this.handshaking.settle(DRAIN_KEEP_ALIVE_GRACE_MS);
    this.handshaking.destroyAll();
    await super.close();
  }
}
