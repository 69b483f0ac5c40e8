import type { Socket } from 'node:net';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { LatencyHistogram, LATENCY_BUCKETS_MS } from '../../core/latency-histogram';
import { PoolHealthStatus } from '../../core/pool-health';
import type { PooledConnection } from '../../core/pooled-connection';
import type { KnownLabelValues, PoolMetricsSnapshot, PreparedConfigUpdate } from '../../core/pool-types';
import { certificateExpiryFamily, countSamples, histogramSampleSeconds, type ProtocolMetricFamily } from '../../core/protocol-metrics';
import { ConfigValidationError, TlsMaterialError } from '../../errors';
import { HTTP_LABEL_VALUES, HttpConnectionPool, type HttpTimeoutTarget } from '../http/http-connection-pool';
import { HttpsPoolConfig, type HttpsTlsSettings } from './https-config';
import { describeCertificate, loadTlsMaterial, readTlsMaterial, sameMaterial, secureContextOptions, type CertificateInfo, type TlsMaterial } from '../../config/tls-material';

const DAY_MS = 86_400_000;

/** HTTP's refusals, timeouts and errors, plus the handshake's. */
const HTTPS_LABEL_VALUES: KnownLabelValues = Object.freeze({
  rejectReasons: Object.freeze([...HTTP_LABEL_VALUES.rejectReasons, 'handshake_backlog', 'client_certificate']),
  timeoutKinds: Object.freeze([...HTTP_LABEL_VALUES.timeoutKinds, 'handshake']),
  errorTypes: Object.freeze([...HTTP_LABEL_VALUES.errorTypes, 'tls_handshake']),
});

/** A server whose TLS context follows the pool's config (certificate hot reload). */
export interface HttpsTlsTarget extends HttpTimeoutTarget {
  applySecureContext(options: SecureContextOptions, settings: HttpsTlsSettings): void;
}

function isTlsTarget(server: HttpTimeoutTarget): server is HttpsTlsTarget {
  return typeof (server as Partial<HttpsTlsTarget>).applySecureContext === 'function';
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

/** Whether an update failed because of the `tls` block (counted as a refused certificate reload). */
function isTlsRefusal(err: unknown, section: string): boolean {
  if (err instanceof TlsMaterialError) return true;
  return err instanceof ConfigValidationError && err.problems.some((p) => p.path.startsWith(`${section}.tls.`));
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** The settings that decide the secure context (the expiry threshold does not). */
function contextKey(s: HttpsTlsSettings): string {
  return JSON.stringify([s.cert, s.key, s.ca, s.minVersion, s.ciphers, s.requestCert]);
}

/**
 * Pool of HTTPS connections: everything `HttpConnectionPool` does, counted from the end of the
 * TLS handshake, plus TLS figures, certificate expiry in health, and certificate hot reload.
 */
export class HttpsConnectionPool extends HttpConnectionPool<HttpsPoolConfig> {
  override readonly protocol: string = 'https';

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
  /** Certificate and key in use: an ES private field, so no serialisation or inspection of the pool shows the key. */
  #material: TlsMaterial | undefined;
  private certificate: CertificateInfo | undefined;

  constructor() {
    super(HttpsPoolConfig);
  }

  override configure(config: HttpsPoolConfig): void {
    super.configure(config);
    this.setMaterial(loadTlsMaterial(this.config.tls));
  }

  /** @internal The secure context options the server starts with (reads the files if no config did). */
  secureContext(): SecureContextOptions {
    const settings = this.config.tls;
    if (!this.#material) this.setMaterial(loadTlsMaterial(settings));
    return secureContextOptions(settings, this.#material as TlsMaterial);
  }

  private setMaterial(material: TlsMaterial): void {
    this.#material = material;
    this.certificate = describeCertificate(material.cert);
  }

  /** Public facts of the certificate served now. */
  get servedCertificate(): CertificateInfo | undefined {
    return this.certificate;
  }

  /**
   * A changed `tls` block is proven (files read, key matches certificate) before anything is
   * applied; then every server gets the new context with `setSecureContext`. Live connections
   * keep the session they negotiated.
   */
  protected override applyConfig(previous: HttpsPoolConfig, next: HttpsPoolConfig): void {
    // Validation already read and proved the files of `next.tls`; this reuses that read.
    const material = loadTlsMaterial(next.tls);
    const changed = contextKey(previous.tls) !== contextKey(next.tls) || !sameMaterial(this.#material, material);
    super.applyConfig(previous, next);
    if (changed) this.install(next.tls, material);
  }

  /** A certificate renewed in place (same paths, new files) counts as a `tls` change on reload. */
  protected override changedOutsideConfig(_previous: HttpsPoolConfig, next: HttpsPoolConfig): string[] {
    return this.#material !== undefined && !sameMaterial(this.#material, loadTlsMaterial(next.tls)) ? ['tls'] : [];
  }

  private install(settings: HttpsTlsSettings, material: TlsMaterial): void {
    const options = secureContextOptions(settings, material);
    for (const server of this.servers) if (isTlsTarget(server)) server.applySecureContext(options, settings);
    this.setMaterial(material);
    this.reloadsApplied++;
  }

  /** Counts a refused certificate change; see `changedOutsideConfig` for renewals in place. */
  override prepareConfigUpdate(partial: Partial<Record<keyof HttpsPoolConfig, unknown>> | Record<string, unknown>, options: { replace?: boolean } = {}): PreparedConfigUpdate<HttpsPoolConfig> {
    try {
      return super.prepareConfigUpdate(partial, options);
    } catch (err) {
      if (isTlsRefusal(err, this.protocol)) this.reloadsRejected++;
      throw err;
    }
  }

  /**
   * Re-reads the configured certificate, key and CA files and applies them if they changed.
   * Returns whether a new certificate is served. Throws `TlsMaterialError` (and keeps the
   * served one) if the files are unreadable or the key does not match the certificate.
   */
  reloadCertificate(): boolean {
    const settings = this.config.tls;
    let material: TlsMaterial;
    try {
      material = readTlsMaterial(settings);
    } catch (err) {
      this.reloadsRejected++;
      throw err;
    }
    if (sameMaterial(this.#material, material)) return false;
    this.install(settings, material);
    this.checkHealth();
    return true;
  }

  // ---------------------------------------------------------------- figures fed by the server

  /** @internal Records a completed handshake and returns what the connection's `data` holds. */
  recordHandshake(socket: TLSSocket, handshakeMs: number | undefined): TlsConnectionInfo {
    this.handshakesCompleted++;
    if (handshakeMs !== undefined) this.handshakeDuration.observe(handshakeMs);
    const protocol = socket.getProtocol() ?? 'unknown';
    increment(this.versions, protocol);
    const sessionReused = socket.isSessionReused();
    if (sessionReused) this.reused++;
    const info: TlsConnectionInfo = { protocol, cipher: socket.getCipher()?.name ?? 'unknown', sessionReused, handshakeMs, peerCertificate: 'not_requested' };
    if (this.config.tls.requestCert) {
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

  /** @internal Counts a handshake that failed or timed out, by reason (the error code). */
  recordHandshakeFailure(reason: string, error?: Error): void {
    this.handshakesFailed++;
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
    return this.certificate ? (this.certificate.expiresAt - now) / DAY_MS : undefined;
  }

  protected override healthFindings(): ReadonlyArray<{ status: PoolHealthStatus; reason: string }> {
    const days = this.daysUntilExpiry();
    if (days === undefined || days >= this.config.tls.certExpiryWarningDays) return super.healthFindings();
    const validTo = (this.certificate as CertificateInfo).validTo;
    const reason = days < 0 ? `certificate expired on ${validTo}` : `certificate expires in ${days.toFixed(1)} days (${validTo})`;
    return [{ status: PoolHealthStatus.Degraded, reason }];
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
    if (this.certificate) families.push(certificateExpiryFamily(this.certificate.expiresAt));
    return families;
  }

  override knownLabelValues(): KnownLabelValues {
    return HTTPS_LABEL_VALUES;
  }

  override getMetrics(): HttpsPoolMetricsSnapshot {
    const h = this.handshakeDuration;
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
        certificate: this.certificate && days !== undefined ? { ...this.certificate, daysUntilExpiry: Math.floor(days * 100) / 100 } : undefined,
        certificateReloads: { applied: this.reloadsApplied, rejected: this.reloadsRejected },
      },
    };
  }
}
