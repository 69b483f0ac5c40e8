import type { ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { ConnectionPoolManager } from '../../core/connection-pool-manager';
import { certificateExpiryFamily, histogramSampleSeconds, type ProtocolHistogramSample, type ProtocolMetricFamily, type ProtocolMetricSample } from '../../core/protocol-metrics';
import type { PooledConnection } from '../../core/pooled-connection';
import type { ByteTotals } from '../../core/pool-stats';
import type { CloseReason, PoolMetricsSnapshot } from '../../core/pool-types';
import { GrpcPoolConfig } from './grpc-config';
import { GrpcMethodStats, STATUS_NAMES, type GrpcMethodStatsSnapshot, type GrpcMethodType, type GrpcServiceInfo } from './grpc-method-stats';

/** What a gRPC connection carries besides its socket: the HTTP/2 session, once it started. */
export interface GrpcConnectionState {
  session: ServerHttp2Session | undefined;
}

/** The HTTP/2 session of a tracked connection, if it has started. */
export function sessionOf(conn: PooledConnection<Socket>): ServerHttp2Session | undefined {
  return (conn.data as GrpcConnectionState | undefined)?.session;
}

/** `getMetrics()` of a gRPC pool. */
export interface GrpcPoolMetricsSnapshot extends PoolMetricsSnapshot {
  grpc: { services: GrpcServiceInfo[]; methods: GrpcMethodStatsSnapshot[] };
}

/**
 * Pool of gRPC connections: one TCP socket each, carrying one HTTP/2 session. A unit of work is
 * a call; per-method figures (`getMethodStats`) and the registered services (`services`) live
 * here too, so they survive a server restart and are shared by servers on the same pool.
 */
export class GrpcConnectionPool<C extends GrpcPoolConfig = GrpcPoolConfig> extends ConnectionPoolManager<Socket, C> {
  readonly protocol: string = 'grpc';
  /** `network.protocol.name` for telemetry: gRPC runs over HTTP/2. */
  readonly networkProtocolName: string = 'http';
  private readonly methods = new Map<string, GrpcMethodStats>();
  /** When the certificate each TLS server of the pool serves expires (ms since epoch). */
  private readonly certificateExpiry = new Map<object, number>();

  constructor(configClass: new () => C = GrpcPoolConfig as new () => C) {
    super(configClass);
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

  /** Pool figures plus the registered services and per-method figures (so `/status` shows them). */
  override getMetrics(): GrpcPoolMetricsSnapshot {
    return { ...super.getMetrics(), grpc: { services: this.services(), methods: this.getMethodStats() } };
  }

  /**
   * @internal `server` serves this certificate (PEM) from now on; the soonest expiry among the
   * pool's servers becomes a metric.
   */
  recordServedCertificate(server: object, cert: Buffer | string): void {
    this.certificateExpiry.set(server, Date.parse(new X509Certificate(cert).validTo));
  }

  /** @internal Forgets a closed server's certificate. */
  forgetServedCertificate(server: object): void {
    this.certificateExpiry.delete(server);
  }

  /**
   * Per-method families. Only registered methods are tracked (grpc-js answers unknown paths
   * itself), so `service` and `method` are bounded by the .proto files, `code` by the 17 status
   * codes; every method reports `code="OK"` from the start so rates begin at zero.
   */
  override protocolMetrics(): readonly ProtocolMetricFamily[] {
    const calls: ProtocolMetricSample[] = [];
    const inFlight: ProtocolMetricSample[] = [];
    const messages: ProtocolMetricSample[] = [];
    const durations: ProtocolHistogramSample[] = [];
    for (const stats of this.methods.values()) {
      const { service, method } = stats;
      stats.codes.forEach((n, code) => {
        if (n > 0 || code === 0) calls.push({ labels: { service, method, code: STATUS_NAMES[code] }, value: n });
      });
      inFlight.push({ labels: { service, method }, value: stats.inFlight });
      messages.push({ labels: { service, method, direction: 'receive' }, value: stats.messagesIn }, { labels: { service, method, direction: 'transmit' }, value: stats.messagesOut });
      durations.push(histogramSampleSeconds(stats.latency, { service, method }));
    }
    const families: ProtocolMetricFamily[] = [
      { name: 'unipool_grpc_calls_total', help: 'Finished gRPC calls by method and status code.', type: 'counter', samples: calls },
      { name: 'unipool_grpc_call_duration_seconds', help: 'Duration of finished gRPC calls by method.', type: 'histogram', samples: durations },
      { name: 'unipool_grpc_messages_total', help: 'gRPC messages received and transmitted by method.', type: 'counter', samples: messages },
      { name: 'unipool_grpc_calls_in_flight', help: 'gRPC calls running now by method.', type: 'gauge', samples: inFlight },
    ];
    if (this.certificateExpiry.size) families.push(certificateExpiryFamily(Math.min(...this.certificateExpiry.values())));
    return families;
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
    // GOAWAY means nothing to a peer that never finished its handshake: cut it.
    if (conn.started && session !== undefined && !session.destroyed) session.close();
    else this.destroyConnection(conn);
  }

  protected destroyConnection(conn: PooledConnection<Socket>): void {
    if (!conn.started) {
      // Before the client's preface node's HTTP/2 session holds the socket open through
      // destroy() (seen on node 20: neither side sees a close); a reset is what ends it.
      conn.raw.resetAndDestroy();
      return;
    }
    sessionOf(conn)?.destroy();
    conn.raw.destroy();
  }

  /**
   * @internal Overload level `closeKeepAlive`: the connection's session gets GOAWAY (as at
   * `maxConnectionAge`), so its client reconnects for new calls, through admission again (and,
   * behind a TCP load balancer, maybe to another replica); calls in flight run to their end.
   * Idempotent. The connection is removed with reason `overloaded` once it has closed.
   */
  closeForOverload(conn: PooledConnection<Socket>): void {
    if (conn.removed || conn.closeReason !== undefined) return;
    const session = sessionOf(conn);
    if (session === undefined || session.closed || session.destroyed) return;
    conn.closeReason = 'overloaded';
    session.close();
  }

  /** GOAWAY to every session at once, busy or not: in-flight calls run on, new ones go elsewhere. */
  protected override drainConnection(conn: PooledConnection<Socket>): void {
    conn.closeReason = 'drain';
    this.closeConnection(conn, 'drain');
  }

  protected override addConnectionBytes(conn: PooledConnection<Socket>, totals: ByteTotals): void {
    totals.bytesIn += conn.raw.bytesRead;
    totals.bytesOut += conn.raw.bytesWritten;
  }
}
