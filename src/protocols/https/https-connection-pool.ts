import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { LatencyHistogram, LATENCY_BUCKETS_MS } from '../../core/latency-histogram';
import { PoolHealthStatus } from '../../core/pool-health';
import type { PooledConnection } from '../../core/pooled-connection';
import type { KnownLabelValues, PoolMetricsSnapshot } from '../../core/pool-types';
import { certificateExpiryFamily, countSamples, histogramSampleSeconds, type ProtocolMetricFamily } from '../../core/protocol-metrics';
import { HTTP_LABEL_VALUES, HttpConnectionPool } from '../http/http-connection-pool';
import type { HttpPoolConfig } from '../http/http-config';
import { HttpsPoolConfig } from './https-config';
import type { CertificateInfo } from '../../config/tls-material';

const DAY_MS = 86_400_000;

/** HTTP's refusals, timeouts and errors, plus the handshake's. */
export const HTTPS_LABEL_VALUES: KnownLabelValues = Object.freeze({
  rejectReasons: Object.freeze([...HTTP_LABEL_VALUES.rejectReasons, 'handshake_backlog', 'client_certificate']),
  timeoutKinds: Object.freeze([...HTTP_LABEL_VALUES.timeoutKinds, 'handshake']),
  errorTypes: Object.freeze([...HTTP_LABEL_VALUES.errorTypes, 'tls_handshake']),
});

/** A server serving a certificate through this pool (`HttpsServer`): its certificate counts in health and metrics. */
export interface CertificateServer {
  /** Re-reads the server's certificate files; true if a new certificate is served. */
  reloadCertificate(): boolean;
  /** TCP connections in their TLS handshake now (not pool connections yet). */
  readonly handshakesInProgress: number;
}

/** What the pool knows of one connection's TLS session (the connection's `data`). */
export interface TlsConnectionInfo {
  /** Negotiated protocol version, e.g. `TLSv1.3`. */
  protocol: string;
  cipher: string;
  sessionReused: boolean;
  /** From TCP accept to handshake done (ms); undefined if it could not be measured. */
  handshakeMs: number | undefined;
  /** Client certificate outcome: not asked for, verified against `tls.ca`, or not (see `authorizationError`). */
  peerCertificate: 'not_requested' | 'verified' | 'unverified';
  /** Why the client certificate did not verify (`no_certificate` when the client sent none). */
  authorizationError?: string;
}

/** TLS figures of an HTTPS pool. */
export interface TlsMetricsSnapshot {
  handshakes: {
    completed: number;
    failed: number;
    failuresByReason: Record<string, number>;
    /** Handshake duration over the pool's life (ms). */
    durationMs: { count: number; avgMs: number; p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number };
  };
  /** Completed handshakes by negotiated version. */
  protocolVersions: Record<string, number>;
  /** Handshakes that resumed an earlier session (ticket or id). */
  sessionsReused: number;
  clientCertificates: {
    verified: number;
    unverified: number;
    unverifiedByReason: Record<string, number>;
    /** Connections closed because `rejectUnauthorized` refused their certificate. */
    rejected: number;
    rejectedByReason: Record<string, number>;
  };
  /** The served certificate (public facts only), once one is loaded. */
  certificate: (CertificateInfo & { daysUntilExpiry: number }) | undefined;
  certificateReloads: { applied: number; rejected: number };
}

/** Pool metrics plus the TLS figures. */
export interface HttpsPoolMetricsSnapshot extends PoolMetricsSnapshot {
  tls: TlsMetricsSnapshot;
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/**
 * Pool of HTTPS connections: everything `HttpConnectionPool` does, counted from the end of the
 * TLS handshake, plus TLS figures and certificate expiry in health. The certificate, key and
 * client-certificate policy are each server's own (`HttpsServer`, from its section's `tls`); the
 * pool counts what they do and judges the expiry of every certificate its servers serve.
 */
export class HttpsConnectionPool<C extends HttpPoolConfig = HttpsPoolConfig> extends HttpConnectionPool<C> {
  override readonly protocol: string = 'https';
  override get urlScheme(): string {
    return 'https';
  }

  /** TLS handshake duration, TCP accept to `secureConnection` (ms). */
  readonly handshakeDuration = new LatencyHistogram(LATENCY_BUCKETS_MS);
  private handshakesCompleted = 0;
  private handshakesFailed = 0;
  private readonly failuresByReason = new Map<string, number>();
  private readonly versions = new Map<string, number>();
  private reused = 0;
  private certsVerified = 0;
  private certsUnverified = 0;
  private readonly unverifiedByReason = new Map<string, number>();
  private certsRejected = 0;
  private readonly certRejectedByReason = new Map<string, number>();
  private reloadsApplied = 0;
  private reloadsRejected = 0;
  /** Certificates served through this pool, by server, with each server's warning threshold (days). */
  private readonly certificates = new Map<CertificateServer, { info: CertificateInfo; warningDays: number }>();

  constructor(configClass: new () => C = HttpsPoolConfig as unknown as new () => C) {
    super(configClass);
  }

  /** @internal Notes the certificate a server serves now (at listen and on every change). */
  registerCertificate(server: CertificateServer, info: CertificateInfo, warningDays: number): void {
    this.certificates.set(server, { info, warningDays });
  }

  /** @internal Forgets a closed server's certificate. */
  unregisterCertificate(server: CertificateServer): void {
    this.certificates.delete(server);
  }

  /** @internal Counts a certificate change a server applied (`true`) or refused. */
  recordCertificateReload(applied: boolean): void {
    if (applied) this.reloadsApplied++;
    else this.reloadsRejected++;
  }

  /** TLS handshakes in progress now on the pool's servers (connections not admitted yet). */
  get activeTlsHandshakes(): number {
    let n = 0;
    for (const server of this.certificates.keys()) n += server.handshakesInProgress;
    return n;
  }

  /** The certificate closest to expiry among those the pool's servers serve now (public facts only). */
  get servedCertificate(): CertificateInfo | undefined {
    return this.soonest()?.info;
  }

  private soonest(): { info: CertificateInfo; warningDays: number } | undefined {
    let found: { info: CertificateInfo; warningDays: number } | undefined;
    for (const entry of this.certificates.values()) if (!found || entry.info.expiresAt < found.info.expiresAt) found = entry;
    return found;
  }

  /**
   * Re-reads the certificate, key and CA files of every server on this pool and serves those that
   * changed. Returns whether any server serves a new certificate. Throws `TlsMaterialError` (and
   * keeps the served one) if a server's files are unreadable or its key does not match.
   */
  reloadCertificate(): boolean {
    let changed = false;
    for (const server of [...this.certificates.keys()]) if (server.reloadCertificate()) changed = true;
    if (changed) this.checkHealth();
    return changed;
  }

  // ---------------------------------------------------------------- figures fed by the server

  /** @internal Records a completed handshake and returns what the connection's `data` holds. */
  recordHandshake(socket: TLSSocket, handshakeMs: number | undefined, requestCert: boolean): TlsConnectionInfo {
    this.handshakesCompleted++;
    const protocol = socket.getProtocol() ?? 'unknown';
    if (handshakeMs !== undefined) {
      this.handshakeDuration.observe(handshakeMs);
      this.observer?.tlsHandshake(this, handshakeMs / 1000, protocol);
    }
    increment(this.versions, protocol);
    const sessionReused = socket.isSessionReused();
    if (sessionReused) this.reused++;
    const info: TlsConnectionInfo = { protocol, cipher: socket.getCipher()?.name ?? 'unknown', sessionReused, handshakeMs, peerCertificate: 'not_requested' };
    if (requestCert) {
      if (socket.authorized) {
        info.peerCertificate = 'verified';
        this.certsVerified++;
      } else {
        const peer = socket.getPeerCertificate();
        const reason = peer && Object.keys(peer).length > 0 ? String(socket.authorizationError ?? 'unknown') : 'no_certificate';
        info.peerCertificate = 'unverified';
        info.authorizationError = reason;
        this.certsUnverified++;
        increment(this.unverifiedByReason, reason);
      }
    }
    return info;
  }

  /** @internal Counts a handshake that failed or timed out, by reason (the error code), after `handshakeMs` if known. */
  recordHandshakeFailure(reason: string, error?: Error, handshakeMs?: number): void {
    this.handshakesFailed++;
    if (handshakeMs !== undefined) this.observer?.tlsHandshake(this, handshakeMs / 1000, undefined, reason);
    increment(this.failuresByReason, reason);
    if (reason === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.recordTimeout('handshake');
    else this.recordError('tls_handshake', error);
  }

  /** @internal Counts a connection refused because its client certificate did not verify. */
  rejectClientCertificate(reason: string, remoteAddress?: string): void {
    this.certsRejected++;
    increment(this.certRejectedByReason, reason);
    this.reject('client_certificate', remoteAddress);
  }

  /** The TLS facts of one tracked connection. */
  tlsInfo(conn: PooledConnection<Socket>): TlsConnectionInfo | undefined {
    return conn.data as TlsConnectionInfo | undefined;
  }

  /** Days until the served certificate expires (negative once expired), or undefined before one is loaded. */
  daysUntilExpiry(now = Date.now()): number | undefined {
    const served = this.servedCertificate;
    return served ? (served.expiresAt - now) / DAY_MS : undefined;
  }

  /** DEGRADED while a server's certificate expires within that server's `tls.certExpiryWarningDays`, besides what the base pool finds. */
  protected override healthFindings(): ReadonlyArray<{ status: PoolHealthStatus; reason: string }> {
    const now = Date.now();
    let findings: Array<{ status: PoolHealthStatus; reason: string }> | undefined;
    for (const { info, warningDays } of this.certificates.values()) {
      const days = (info.expiresAt - now) / DAY_MS;
      if (days >= warningDays) continue;
      const reason = days < 0 ? `certificate expired on ${info.validTo}` : `certificate expires in ${days.toFixed(1)} days (${info.validTo})`;
      (findings ??= []).push({ status: PoolHealthStatus.Degraded, reason });
    }
    const base = super.healthFindings();
    return findings === undefined ? base : base.length === 0 ? findings : [...base, ...findings];
  }

  /**
   * TLS families, read from the counters above on each scrape. Label values are bounded:
   * `version` by the TLS versions OpenSSL negotiates, `reason` by Node/OpenSSL error codes.
   * Handshake failures and refused client certificates also show in the generic families
   * (`errors_total{type="tls_handshake"}`, `connection_timeouts_total{kind="handshake"}`,
   * `connections_rejected_total{reason="client_certificate"}`); these add the detailed reason.
   */
  override protocolMetrics(): readonly ProtocolMetricFamily[] {
    const families: ProtocolMetricFamily[] = [
      ...super.protocolMetrics(),
      { name: 'unipool_tls_handshake_duration_seconds', help: 'TLS handshake duration, TCP accept to handshake done.', type: 'histogram', samples: [histogramSampleSeconds(this.handshakeDuration)] },
      { name: 'unipool_tls_handshake_failures_total', help: 'TLS handshakes that failed or timed out, by reason (error code).', type: 'counter', samples: countSamples(this.failuresByReason, 'reason') },
      { name: 'unipool_tls_connections_total', help: 'Completed TLS handshakes by negotiated protocol version.', type: 'counter', samples: countSamples(this.versions, 'version') },
      { name: 'unipool_tls_session_reused_total', help: 'Completed TLS handshakes that resumed an earlier session.', type: 'counter', samples: [{ value: this.reused }] },
      { name: 'unipool_tls_client_certificates_total', help: 'Client certificates asked for (tls.requestCert), by verification result.', type: 'counter', samples: countSamples([['verified', this.certsVerified], ['unverified', this.certsUnverified]], 'result') },
      { name: 'unipool_tls_client_certificate_failures_total', help: 'Client certificates that did not verify, by reason (authorizationError, or no_certificate).', type: 'counter', samples: countSamples(this.unverifiedByReason, 'reason') },
      { name: 'unipool_tls_client_certificate_rejections_total', help: 'Connections refused by tls.rejectUnauthorized, by reason.', type: 'counter', samples: countSamples(this.certRejectedByReason, 'reason') },
      { name: 'unipool_tls_certificate_reloads_total', help: 'Certificate reloads by result (a refused pair keeps the served certificate).', type: 'counter', samples: countSamples([['success', this.reloadsApplied], ['failure', this.reloadsRejected]], 'result') },
    ];
    const served = this.servedCertificate;
    if (served) families.push(certificateExpiryFamily(served.expiresAt));
    return families;
  }

  override knownLabelValues(): KnownLabelValues {
    return HTTPS_LABEL_VALUES;
  }

  override getMetrics(): HttpsPoolMetricsSnapshot {
    const h = this.handshakeDuration;
    const served = this.servedCertificate;
    const days = this.daysUntilExpiry();
    return {
      ...super.getMetrics(),
      tls: {
        handshakes: {
          completed: this.handshakesCompleted,
          failed: this.handshakesFailed,
          failuresByReason: Object.fromEntries(this.failuresByReason),
          durationMs: { count: h.count, avgMs: h.mean(), p50Ms: h.quantile(0.5), p95Ms: h.quantile(0.95), p99Ms: h.quantile(0.99), maxMs: h.max },
        },
        protocolVersions: Object.fromEntries(this.versions),
        sessionsReused: this.reused,
        clientCertificates: {
          verified: this.certsVerified,
          unverified: this.certsUnverified,
          unverifiedByReason: Object.fromEntries(this.unverifiedByReason),
          rejected: this.certsRejected,
          rejectedByReason: Object.fromEntries(this.certRejectedByReason),
        },
        certificate: served && days !== undefined ? { ...served, daysUntilExpiry: Math.floor(days * 100) / 100 } : undefined,
        certificateReloads: { applied: this.reloadsApplied, rejected: this.reloadsRejected },
      },
    };
  }
}
