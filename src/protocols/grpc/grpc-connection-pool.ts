import type { ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { ConnectionPoolManager } from '../../core/connection-pool-manager';
import type { PooledConnection } from '../../core/pooled-connection';
import type { CloseReason } from '../../core/pool-types';
import { GrpcPoolConfig } from './grpc-config';
import { GrpcMethodStats, type GrpcMethodStatsSnapshot, type GrpcMethodType, type GrpcServiceInfo } from './grpc-method-stats';

/** Keys the grpc-js server reads once at construction, so a change needs a restart. */
const GRPC_RESTART_KEYS = [
  'tls',
  'keepAliveTime',
  'keepAliveTimeout',
  'maxConnectionAge',
  'maxConnectionAgeGrace',
  'maxConnectionIdle',
  'maxConcurrentStreams',
  'maxReceiveMessageLength',
  'maxSendMessageLength',
];

/** What a gRPC connection carries besides its socket: the HTTP/2 session, once it started. */
export interface GrpcConnectionState {
  session: ServerHttp2Session | undefined;
}

/** The HTTP/2 session of a tracked connection, if it has started. */
export function sessionOf(conn: PooledConnection<Socket>): ServerHttp2Session | undefined {
  return (conn.data as GrpcConnectionState | undefined)?.session;
}

/**
 * Pool of gRPC connections: one TCP socket each, carrying one HTTP/2 session. A unit of work is
 * a call; per-method figures (`getMethodStats`) and the registered services (`services`) live
 * here too, so they survive a server restart and are shared by servers on the same pool.
 */
export class GrpcConnectionPool<C extends GrpcPoolConfig = GrpcPoolConfig> extends ConnectionPoolManager<Socket, C> {
  readonly protocol: string = 'grpc';
  private readonly methods = new Map<string, GrpcMethodStats>();

  constructor(configClass: new () => C = GrpcPoolConfig as new () => C) {
    super(configClass);
  }

  protected override restartKeys(): ReadonlySet<string> {
    return new Set([...super.restartKeys(), ...GRPC_RESTART_KEYS]);
  }

  /** @internal Registers a method (idempotent) and returns its counters. */
  registerMethod(path: string, type: GrpcMethodType): GrpcMethodStats {
    let stats = this.methods.get(path);
    if (stats === undefined) {
      stats = new GrpcMethodStats(path, type);
      this.methods.set(path, stats);
    }
    return stats;
  }

  /** @internal The counters of a registered method. grpc-js answers unregistered paths itself, so this never grows with traffic. */
  methodStats(path: string): GrpcMethodStats {
    return this.methods.get(path) ?? this.registerMethod(path, 'unary');
  }

  /** The registered services and their methods. */
  services(): GrpcServiceInfo[] {
    const byService = new Map<string, GrpcServiceInfo>();
    for (const stats of this.methods.values()) {
      let service = byService.get(stats.service);
      if (service === undefined) {
        service = { name: stats.service, methods: [] };
        byService.set(stats.service, service);
      }
      service.methods.push({ name: stats.method, path: stats.path, type: stats.type });
    }
    return [...byService.values()];
  }

  /** Per-method figures: calls, status codes, latency, messages in and out. */
  getMethodStats(): GrpcMethodStatsSnapshot[] {
    return [...this.methods.values()].map((s) => s.toJSON());
  }

  /** One method's figures, by path (`/demo.Echo/Echo`) or by `service` and `method`. */
  getMethod(pathOrService: string, method?: string): GrpcMethodStatsSnapshot | undefined {
    const path = method === undefined ? pathOrService : `/${pathOrService}/${method}`;
    return this.methods.get(path)?.toJSON();
  }

  /**
   * A started session gets GOAWAY and closes once its calls end (clients retry new calls
   * elsewhere); a socket whose session never started has nothing to say goodbye to.
   */
  protected closeConnection(conn: PooledConnection<Socket>, _reason: CloseReason): void {
    const session = sessionOf(conn);
    if (session !== undefined && !session.destroyed) session.close();
    else conn.raw.destroy();
  }

  protected destroyConnection(conn: PooledConnection<Socket>): void {
    sessionOf(conn)?.destroy();
    conn.raw.destroy();
  }

  /** GOAWAY to every session at once, busy or not: in-flight calls run on, new ones go elsewhere. */
  protected override drainConnection(conn: PooledConnection<Socket>): void {
    conn.closeReason = 'drain';
    this.closeConnection(conn, 'drain');
  }

  protected override connectionBytes(conn: PooledConnection<Socket>): [number, number] {
    return [conn.raw.bytesRead, conn.raw.bytesWritten];
  }
}
