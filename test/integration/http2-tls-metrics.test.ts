import { expect } from 'chai';
import type * as http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { createTestApp } from '../../src/testing';
import { PoolHealthStatus, type Application, type Http2ConnectionPool, type StatusReport } from '../../src';
import { waitFor } from '../helpers/http-fixtures';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { connect, h2request, TestHttp2Server } from '../helpers/http2-fixtures';
import { adminPort, get, parseMetrics, valueOf } from './admin-support';

describe('HTTP/2 TLS (as in https) and observability (/metrics, /status)', () => {
  let certs: TlsFixtures;
  let app: Application | undefined;
  const sessions: http2.ClientHttp2Session[] = [];

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());
  afterEach(async () => {
    for (const s of sessions.splice(0)) s.destroy();
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  async function start(http2: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<{ port: number; pool: Http2ConnectionPool; server: TestHttp2Server }> {
    app = createTestApp({ servers: [TestHttp2Server], config: { http2, ...extra } });
    await app.start();
    const server = app.server(TestHttp2Server);
    return { port: server.address()?.port as number, pool: server.pool, server };
  }

  async function open(port: number, ca = certs.certPem): Promise<http2.ClientHttp2Session> {
    const session = await connect(port, { ca });
    sessions.push(session);
    return session;
  }

  it('hot reload: a new tls block is served to new sessions while a live session keeps working', async () => {
    const { port, pool, server } = await start({ tls: { cert: certs.cert, key: certs.key } });
    const before = await open(port);
    const first = (before.socket as unknown as TLSSocket).getPeerCertificate().fingerprint256;
    expect(first).to.equal(pool.servedCertificate?.fingerprint256);
    const result = server.updateConfig({ tls: { cert: certs.cert2, key: certs.key2 } });
    expect(result.applied).to.deep.equal(['tls']);
    const after = await open(port, certs.cert2Pem);
    expect((after.socket as unknown as TLSSocket).getPeerCertificate().fingerprint256).to.not.equal(first);
    expect((await h2request(before, '/')).status).to.equal(200);
    expect((await h2request(after, '/')).status).to.equal(200);
    expect(pool.getMetrics().tls.certificateReloads.applied).to.equal(1);
  });

  it('live config: maxConcurrentStreams changes for new sessions (SETTINGS), allowHTTP1 and maxSessionMemory need a restart', async () => {
    const { port, server } = await start({ tls: { cert: certs.cert, key: certs.key } });
    const before = await open(port);
    expect(before.remoteSettings.maxConcurrentStreams).to.equal(100);
    const result = server.updateConfig({ maxConcurrentStreams: 5, allowHTTP1: false, maxSessionMemory: 20 });
    expect(result).to.deep.equal({ applied: ['maxConcurrentStreams'], restartRequired: ['allowHTTP1', 'maxSessionMemory'] });
    const after = await open(port);
    expect(after.remoteSettings.maxConcurrentStreams).to.equal(5);
    expect((await h2request(before, '/')).status).to.equal(200);
  });

  it('client certificates: requestCert with ca refuses a session without a certificate (counted client_certificate) and serves one with', async () => {
    const { port, pool } = await start({ tls: { cert: certs.cert, key: certs.key, ca: certs.clientCa, requestCert: true } });
    const refused = await connect(port, { ca: certs.certPem }).then(
      () => 'connected',
      () => 'refused',
    );
    expect(refused).to.equal('refused');
    await waitFor(() => pool.getMetrics().rejected.byReason.client_certificate === 1, 5000, 'refusal counted');
    const { connect: h2connect } = await import('node:http2');
    const withCert = h2connect(`https://localhost:${port}`, { ca: certs.certPem, cert: certs.clientCertPem, key: certs.clientKeyPem, host: '127.0.0.1', servername: 'localhost' });
    withCert.on('error', () => {});
    sessions.push(withCert);
    expect((await h2request(withCert, '/')).status).to.equal(200);
    expect(pool.getMetrics().tls.clientCertificates.verified).to.equal(1);
  });

  it('certificate expiry: a certificate that expires within certExpiryWarningDays makes the pool DEGRADED', async () => {
    const { pool } = await start({ tls: { cert: certs.soonCert, key: certs.soonKey } });
    const health = pool.getHealth();
    expect(health.status).to.equal(PoolHealthStatus.Degraded);
    expect(health.reason).to.match(/certificate expires in/);
  });

  it('/metrics has the HTTP/2 families (every reset and GOAWAY code from 0) under pool="http2"; /status has streams per session, resets and GOAWAYs', async () => {
    const { port } = await start({ tls: { cert: certs.cert, key: certs.key } }, { admin: { port: 0 } });
    const session = await open(port);
    await h2request(session, '/');
    await h2request(session, '/');
    session.close();
    const admin = adminPort(app as Application);
    await waitFor(() => (app as Application).server(TestHttp2Server).pool.size === 0, 5000, 'session closed');
    const { samples, types } = parseMetrics((await get(admin, '/metrics')).body);
    const labels = { protocol: 'http2', pool: 'http2' };
    expect(types.get('unipool_http2_stream_resets_total')).to.equal('counter');
    expect(valueOf(samples, 'unipool_http2_stream_resets_total', { ...labels, code: 'CANCEL' })).to.equal(0);
    expect(valueOf(samples, 'unipool_http2_goaways_sent_total', { ...labels, code: 'ENHANCE_YOUR_CALM' })).to.equal(0);
    expect(valueOf(samples, 'unipool_http2_streams_per_session_count', labels)).to.equal(1);
    expect(valueOf(samples, 'unipool_http2_streams_per_session_sum', labels)).to.equal(2);
    expect(valueOf(samples, 'unipool_http_requests_total', { ...labels, status_class: '2xx' })).to.equal(2);
    expect(valueOf(samples, 'unipool_connections_rejected_total', { ...labels, reason: 'unknown_protocol' })).to.equal(0);
    expect(valueOf(samples, 'unipool_connection_timeouts_total', { ...labels, kind: 'ping' })).to.equal(0);
    expect(valueOf(samples, 'unipool_http2_sessions', { ...labels, kind: 'h2' })).to.equal(0);
    const status = JSON.parse((await get(admin, '/status')).body) as StatusReport;
    const pool = status.pools.find((p) => p.protocol === 'http2');
    const h2 = (pool?.metrics as unknown as { http2: { streamsPerSession: { count: number; max: number }; resetsByCode: Record<string, number>; goawaysSent: Record<string, number> } }).http2;
    expect(h2.streamsPerSession).to.include({ count: 1, max: 2 });
    expect(h2.resetsByCode.CANCEL).to.equal(0);
    expect(h2.goawaysSent).to.have.property('NO_ERROR');
    expect(pool?.config).to.include({ pingInterval: 30_000, pingTimeout: 10_000, maxResetsPerSecond: 100 });
    expect(JSON.stringify(status.config.http2)).to.not.match(/BEGIN/);
  });
});
