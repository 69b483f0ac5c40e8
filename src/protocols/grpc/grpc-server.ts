import type { EventEmitter } from 'node:events';
import type { ServerHttp2Session } from 'node:http2';
import * as net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ManagedServer, type PoolConfigOf } from '../../core/managed-server';
import { ConnectionPoolEvent, type PoolEventMap } from '../../core/pool-events';
import type { PooledConnection } from '../../core/pooled-connection';
import { ListenError } from '../../errors';
import { listenServer } from '../../core/listen-server';
import { GrpcCallRecorder } from './grpc-call-recorder';
import { loadTlsMaterial } from '../../config/tls-material';
import { GrpcPoolConfig } from './grpc-config';
import { GrpcConnectionPool, type GrpcConnectionState } from './grpc-connection-pool';
import { GrpcHealthReporter } from './grpc-health-reporter';
import { GrpcTlsCredentials } from './grpc-tls-credentials';
import { splitMethodPath, type GrpcMethodType } from './grpc-method-stats';
import { GrpcCallPriority, type GrpcCallHead } from './grpc-call-priority';
import type { WorkPriority } from '../../overload/work-priority';

/** Keys the grpc-js server reads once at construction (besides host and port), so a change needs a restart. */
const GRPC_RESTART_KEYS: ReadonlySet<string> = new Set([
  'host',
  'port',
  'tls',
  'keepAliveTime',
  'keepAliveTimeout',
  'maxConnectionAge',
  'maxConnectionAgeGrace',
  'maxConnectionIdle',
  'maxConcurrentStreams',
  'maxReceiveMessageLength',
  'maxSendMessageLength',
]);

/** A grpc-js server that tells its owner about every service added to it. */
class RegisteringGrpcServer extends grpc.Server {
  constructor(
    options: grpc.ServerOptions,
    private readonly onService: (service: grpc.ServiceDefinition) => void,
  ) {
    super(options);
  }

  override addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    super.addService(service, implementation);
    this.onService(service);
  }
}

function methodType(def: grpc.MethodDefinition<unknown, unknown>): GrpcMethodType {
  if (def.requestStream) return def.responseStream ? 'bidi' : 'clientStream';
  return def.responseStream ? 'serverStream' : 'unary';
}

function peerKey(address: string | undefined, port: number | undefined): string {
  return `${address}|${port}`;
}

/**
 * The node HTTP/2 server a connection injector feeds. grpc-js keeps it private, but its
 * 'session' event is the only way to learn which HTTP/2 session runs on which admitted socket
 * (needed for GOAWAY at drain and for forced close); read once at listen, so a grpc-js that
 * changed shape fails the boot loudly instead of draining badly.
 */
function injectorHttp2Server(server: grpc.Server): EventEmitter {
  const servers = (server as unknown as { http2Servers?: Map<EventEmitter, unknown> }).http2Servers;
  const last = servers instanceof Map ? [...servers.keys()].pop() : undefined;
  if (last === undefined || typeof last.on !== 'function') {
    throw new Error('this @grpc/grpc-js version does not expose the HTTP/2 server behind createConnectionInjector');
  }
  return last;
}

/**
 * A gRPC server on `@grpc/grpc-js` whose connections `GrpcConnectionPool` admits and tracks.
 * It owns the listening socket and hands admitted connections to grpc-js, so a connection over
 * the limit (or during drain) is closed before its HTTP/2 session starts; clients see
 * UNAVAILABLE. It serves `grpc.health.v1.Health` next to your services.
 *
 * Subclass it, decorate the subclass with `@UsePool(GrpcConnectionPool)`, and add your services in
 * `registerServices`; it reads the `grpc` section (`@PoolConfig(GrpcPoolConfig, 'grpc')` in a
 * constructor if you want one). `GrpcServer<MyPool>` declares a pool subclass.
 */
export abstract class GrpcServer<P extends GrpcConnectionPool = GrpcConnectionPool, C extends GrpcPoolConfig = PoolConfigOf<P>> extends ManagedServer<P, C> {
  static override readonly poolType = GrpcConnectionPool;
  static override readonly configSection: string | undefined = 'grpc';

  /** The grpc-js server, once `listen` ran. */
  protected grpcServer: grpc.Server | undefined;
  /** The standard health service; its status follows readiness and pool health. */
  protected readonly health = new GrpcHealthReporter();
  private netServer: net.Server | undefined;
  private injector: grpc.ConnectionInjector | undefined;
  private readonly peers = new Map<string, PooledConnection<Socket>>();
  private closed: Promise<void> | undefined;
  private readonly onPoolHealth = ({ current }: PoolEventMap[ConnectionPoolEvent.HealthChanged]): void => this.health.setPoolHealth(current);
  private readonly onDrainStarted = (): void => this.health.endWatches();

  protected override restartKeys(): ReadonlySet<string> {
    return GRPC_RESTART_KEYS;
  }

  private readonly defaultPriority = new GrpcCallPriority();

  /**
   * How a call ranks under overload, decided when it arrives, before its handler runs (called
   * only when the pool's `overload` block limits work or watches pressure). `call.path` is the
   * method path (`/pkg.Service/Method`), `call.metadata` the request metadata. Default:
   * `critical` for a path in `overload.criticalPaths` and for `grpc.health.v1.Health`,
   * `normal` otherwise. Critical calls are never shed for pressure and are held only by
   * `maxLimit`. Override it to rank by metadata (a tenant, a caller's own priority header).
   */
  protected priority(call: GrpcCallHead): WorkPriority {
    return this.defaultPriority.of(call.path, this.pool.overloadConfig.criticalPaths);
  }

  /** Adds the application's services (`server.addService(...)`); called once, from `listen`. */
  protected abstract registerServices(server: grpc.Server): void;

  /** grpc-js options from the config; override to add your own (your `interceptors` run after the one that measures calls). */
  protected serverOptions(): grpc.ServerOptions {
    const c = this.config;
    const options: grpc.ServerOptions = {
      'grpc.keepalive_timeout_ms': c.keepAliveTimeout,
      'grpc.max_receive_message_length': c.maxReceiveMessageLength || -1,
      'grpc.max_send_message_length': c.maxSendMessageLength || -1,
      'grpc.max_concurrent_streams': c.maxConcurrentStreams,
    };
    if (c.keepAliveTime > 0) options['grpc.keepalive_time_ms'] = c.keepAliveTime;
    if (c.maxConnectionAge > 0) options['grpc.max_connection_age_ms'] = c.maxConnectionAge;
    if (c.maxConnectionAgeGrace > 0) options['grpc.max_connection_age_grace_ms'] = c.maxConnectionAgeGrace;
    if (c.maxConnectionIdle > 0) options['grpc.max_connection_idle_ms'] = c.maxConnectionIdle;
    return options;
  }

  /** TLS credentials from `tls` (a `ca` makes client certificates mandatory), else plaintext. Throws if a file cannot be read. */
  protected credentials(): grpc.ServerCredentials {
    const tls = this.config.tls;
    if (tls === undefined) return grpc.ServerCredentials.createInsecure();
    const material = loadTlsMaterial(tls);
    this.pool.recordServedCertificate(this, material.cert);
    return new GrpcTlsCredentials(tls, material);
  }

  async listen(): Promise<void> {
    const { host, port } = this.config;
    let credentials: grpc.ServerCredentials;
    try {
      credentials = this.credentials();
    } catch (err) {
      throw new ListenError(this.name, `${host}:${port}`, err);
    }
    const recorder = new GrpcCallRecorder(
      this.pool,
      (address, p) => this.peers.get(peerKey(address, p)),
      (call) => this.priority(call),
    );
    const options = this.serverOptions();
    // First, so it wraps the innermost call and sees every status (see GrpcCallRecorder).
    options.interceptors = [recorder.interceptor, ...(options.interceptors ?? [])];
    const server = new RegisteringGrpcServer(options, (service) => this.onService(service));
    this.grpcServer = server;
    this.registerServices(server);
    this.health.addToServer(server);
    const injector = server.createConnectionInjector(credentials);
    this.injector = injector;
    injectorHttp2Server(server).on('session', (session: ServerHttp2Session) => this.onSession(session));

    const netServer = net.createServer((socket) => this.onConnection(socket));
    await listenServer(netServer, this.name, host, port).catch((err: unknown) => {
      injector.destroy();
      server.forceShutdown();
      throw err;
    });
    this.netServer = netServer;
    this.pool.attachServer(this);
    this.pool.events.on(ConnectionPoolEvent.HealthChanged, this.onPoolHealth);
    this.pool.events.on(ConnectionPoolEvent.DrainStarted, this.onDrainStarted);
    this.pool.setListening(true);
    this.health.setPoolHealth(this.pool.getHealth());
  }

  private onService(service: grpc.ServiceDefinition): void {
    for (const def of Object.values(service)) {
      this.pool.registerMethod(def.path, methodType(def));
      this.health.addService(splitMethodPath(def.path).service);
    }
  }

  /** Admission happens here, before grpc-js sees a byte: a refused socket never gets an HTTP/2 session. */
  private onConnection(socket: Socket): void {
    const conn = this.pool.add(socket, socket.remoteAddress, socket.remotePort);
    if (conn === undefined) {
      socket.destroy();
      return;
    }
    const state: GrpcConnectionState = { session: undefined };
    conn.data = state;
    const key = peerKey(socket.remoteAddress, socket.remotePort);
    this.peers.set(key, conn);
    socket.once('close', () => {
      if (this.peers.get(key) === conn) this.peers.delete(key);
      this.pool.remove(conn);
    });
    this.injector?.injectConnection(socket);
  }

  private onSession(session: ServerHttp2Session): void {
    const socket = session.socket;
    const conn = this.peers.get(peerKey(socket?.remoteAddress, socket?.remotePort));
    if (conn === undefined || conn.removed) {
      session.destroy();
      return;
    }
    (conn.data as GrpcConnectionState).session = session;
    // The client's first SETTINGS frame (right after its preface) ends the gRPC handshake:
    // connectionTimeout bounds getting there, not the first call (channels connect early and
    // may stay quiet; maxConnectionIdle handles those). node makes the session object on
    // connect, before a byte arrives, so the session alone proves nothing.
    session.once('remoteSettings', () => this.pool.markEstablished(conn));
    session.on('ping', () => this.pool.touch(conn));
    // A TLS handshake that ended during a drain: say goodbye at once.
    if (this.pool.isDraining) session.close();
  }

  override onReadinessChange(ready: boolean): void {
    this.health.setReady(ready);
  }

  async stopAccepting(): Promise<void> {
    const netServer = this.netServer;
    if (!netServer || this.closed) return;
    // The callback runs once every admitted socket has closed.
    this.closed = new Promise<void>((resolve) => {
      netServer.close(() => resolve());
    });
    this.pool.setListening(false);
  }

  async close(): Promise<void> {
    if (!this.netServer) return;
    if (!this.closed) await this.stopAccepting();
    for (const conn of this.peers.values()) conn.raw.destroy();
    this.injector?.destroy();
    this.grpcServer?.forceShutdown();
    this.pool.detachServer(this);
    this.pool.forgetServedCertificate(this);
    this.pool.events.off(ConnectionPoolEvent.HealthChanged, this.onPoolHealth);
    this.pool.events.off(ConnectionPoolEvent.DrainStarted, this.onDrainStarted);
    await this.closed;
  }

  address(): AddressInfo | undefined {
    const addr = this.netServer?.address();
    return addr && typeof addr === 'object' ? addr : undefined;
  }
}
