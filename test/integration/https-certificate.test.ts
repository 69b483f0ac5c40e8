import { expect } from 'chai';
import { copyFileSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { createTestApp } from '../../src/testing';
import * as sinon from 'sinon';
import { ConfigValidationError, ConnectionPoolEvent, HttpConnectionPool, PoolHealthStatus, type Application, type HttpsConnectionPool } from '../../src';
import { get, makeTlsFixtures, nextEvent, TestHttpsServer, type TlsFixtures } from '../helpers/https-fixtures';

describe('HTTPS certificate: hot reload, expiry health, no key material shown', () => {
  let certs: TlsFixtures;
  let app: (Application & { logs: { records: unknown[] } }) | undefined;
  let agent: https.Agent | undefined;

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());
  afterEach(async () => {
    agent?.destroy();
    agent = undefined;
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  /** The server under test: the certificate and TLS policy are its own (section `https`). */
  const srv = (): TestHttpsServer => app!.server(TestHttpsServer);

  async function start(tls: Record<string, unknown> = {}): Promise<{ port: number; pool: HttpsConnectionPool }> {
    app = createTestApp({ servers: [TestHttpsServer], config: { https: { tls: { cert: certs.cert, key: certs.key, ...tls } } } });
    await app.start();
    const server = app.server(TestHttpsServer);
    return { port: server.address()?.port as number, pool: server.pool };
  }

  it('swaps the certificate on updateConfig while a keep-alive connection stays open and working', async () => {
    const { port, pool } = await start();
    agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const before = await get(port, '/', { ca: certs.certPem, agent });
    const fp1 = before.peer.fingerprint256;
    expect(pool.servedCertificate?.fingerprint256).to.equal(fp1);

    const result = srv().updateConfig({ tls: { cert: certs.cert2, key: certs.key2 } });
    expect(result).to.deep.equal({ applied: ['tls'], restartRequired: [] });
    expect(pool.size).to.equal(1);

    const old = await get(port, '/', { ca: certs.certPem, agent });
    expect(old.status).to.equal(200);
    expect(old.reusedSocket, 'the keep-alive connection survived the swap').to.equal(true);
    expect(old.socket).to.equal(before.socket);
    expect(old.peer.fingerprint256).to.equal(fp1);

    const fresh = await get(port, '/', { ca: certs.cert2Pem });
    expect(fresh.status).to.equal(200);
    expect(fresh.peer.fingerprint256).to.not.equal(fp1);
    expect(fresh.peer.fingerprint256).to.equal(pool.servedCertificate?.fingerprint256);
    expect(pool.getMetrics().tls.certificateReloads).to.deep.equal({ applied: 1, rejected: 0 });
    expect(srv().config.tls.cert).to.equal(certs.cert2);
  });

  it('rejects a key that does not match the certificate, or an unreadable file, and keeps serving the old one', async () => {
    const { port, pool } = await start();
    const fp1 = pool.servedCertificate?.fingerprint256;
    let err: unknown;
    try {
      srv().updateConfig({ tls: { cert: certs.cert2, key: certs.key } });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigValidationError);
    const problems = (err as ConfigValidationError).problems;
    expect(problems.map((p) => p.path)).to.deep.equal(['https.tls.key']);
    expect((err as Error).message).to.match(/do not form a usable pair/);
    expect((err as Error).message).to.not.match(/PRIVATE KEY/);

    expect(() => srv().updateConfig({ tls: { cert: join(certs.dir, 'missing.pem') } })).to.throw(ConfigValidationError, /https\.tls\.cert: cannot read certificate file .*missing\.pem \(ENOENT\)/);

    expect(srv().config.tls.cert).to.equal(certs.cert);
    expect(pool.servedCertificate?.fingerprint256).to.equal(fp1);
    const reply = await get(port, '/', { ca: certs.certPem });
    expect(reply.peer.fingerprint256).to.equal(fp1);
    expect(pool.getMetrics().tls.certificateReloads).to.deep.equal({ applied: 0, rejected: 2 });
  });

  it('picks up a certificate renewed in place when the tls block is reloaded with the same paths', async () => {
    const cert = join(certs.dir, 'live-cert.pem');
    const key = join(certs.dir, 'live-key.pem');
    copyFileSync(certs.cert, cert);
    copyFileSync(certs.key, key);
    const { port, pool } = await start({ cert, key });
    expect(srv().updateConfig({ tls: { cert, key } })).to.deep.equal({ applied: [], restartRequired: [] });

    copyFileSync(certs.cert2, cert);
    writeFileSync(key, 'not a key');
    expect(() => srv().updateConfig({ tls: { cert, key } })).to.throw(ConfigValidationError, /https\.tls\.key/);
    expect((await get(port, '/', { ca: certs.certPem })).status).to.equal(200);

    copyFileSync(certs.key2, key);
    expect(srv().updateConfig({ tls: { cert, key } }).applied).to.deep.equal(['tls']);
    const fresh = await get(port, '/', { ca: certs.cert2Pem });
    expect(fresh.peer.fingerprint256).to.equal(pool.servedCertificate?.fingerprint256);
  });

  it('app.reload() (what SIGHUP runs) picks up a certificate renewed in place, keeping a live connection', async () => {
    const cert = join(certs.dir, 'reload-cert.pem');
    const key = join(certs.dir, 'reload-key.pem');
    copyFileSync(certs.cert, cert);
    copyFileSync(certs.key, key);
    const { port, pool } = await start({ cert, key });
    agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const before = await get(port, '/', { ca: certs.certPem, agent });
    const source = { https: { host: '127.0.0.1', port: 0, tls: { cert, key } } };
    const unchanged = await app!.reload(source);
    expect(unchanged.ok).to.equal(true);
    expect(unchanged.applied).to.deep.equal([]);

    copyFileSync(certs.cert2, cert);
    copyFileSync(certs.key2, key);
    const renewed = await app!.reload(source);
    expect(renewed.ok).to.equal(true);
    expect(renewed.applied).to.deep.equal(['https.tls']);
    const kept = await get(port, '/', { ca: certs.certPem, agent });
    expect(kept.peer.fingerprint256).to.equal(before.peer.fingerprint256);
    const fresh = await get(port, '/', { ca: certs.cert2Pem });
    expect(fresh.peer.fingerprint256).to.equal(pool.servedCertificate?.fingerprint256);
    expect(fresh.peer.fingerprint256).to.not.equal(before.peer.fingerprint256);
  });

  it('a reload that removes an optional key (tls.ca) removes it, not keeps the running value', async () => {
    await start({ ca: certs.clientCa });
    expect(srv().config.tls.ca).to.equal(certs.clientCa);
    const result = await app!.reload({ https: { host: '127.0.0.1', port: 0, tls: { cert: certs.cert, key: certs.key } } });
    expect(result.ok).to.equal(true);
    expect(result.applied).to.deep.equal(['https.tls']);
    expect(srv().config.tls.ca).to.equal(undefined);
  });

  it('turns health DEGRADED when the certificate expires within certExpiryWarningDays', async () => {
    const { pool } = await start({ cert: certs.soonCert, key: certs.soonKey });
    const health = pool.getHealth();
    expect(health.status).to.equal(PoolHealthStatus.Degraded);
    expect(health.reason).to.match(/^certificate expires in (4\.9|5\.0) days \(20\d\d-/);
    const days = pool.getMetrics().tls.certificate?.daysUntilExpiry as number;
    expect(days).to.be.within(4.9, 5);

    const changed = nextEvent(pool, ConnectionPoolEvent.HealthChanged);
    srv().updateConfig({ tls: { certExpiryWarningDays: 3 } });
    expect((await changed).current.status).to.equal(PoolHealthStatus.Healthy);
    srv().updateConfig({ tls: { cert: certs.cert, key: certs.key, certExpiryWarningDays: 14 } });
    expect(pool.getHealth().status).to.equal(PoolHealthStatus.Healthy);
  });

  it('review: an expiring certificate does not hide the health findings of the pool it extends', async () => {
    // What HttpConnectionPool (the class HTTPS extends) finds, as a subclass in between would add.
    const base = { status: PoolHealthStatus.Overloaded, reason: 'base finding' };
    const proto = HttpConnectionPool.prototype as unknown as { healthFindings(): unknown };
    const stub = sinon.stub(proto, 'healthFindings').returns([base]);
    try {
      const { pool } = await start({ cert: certs.soonCert, key: certs.soonKey });
      const findings = (pool as unknown as { healthFindings(): Array<{ status: string; reason: string }> }).healthFindings();
      expect(findings.map((f) => f.reason)).to.have.length(2).and.to.include('base finding');
      expect(findings.map((f) => f.status)).to.have.members([PoolHealthStatus.Overloaded, PoolHealthStatus.Degraded]);
      expect(pool.checkHealth()).to.deep.include({ status: PoolHealthStatus.Overloaded, reason: 'base finding' });
    } finally {
      stub.restore();
    }
  });

  it('never shows PEM text in the effective config, metrics, health, logs or config errors', async () => {
    const { pool } = await start({ ca: certs.clientCa, requestCert: true, rejectUnauthorized: false });
    const current = app as Application & { logs: { records: unknown[] } };
    const status = JSON.stringify({
      config: Object.fromEntries(current.config ?? []),
      pools: current.pools.map((p) => ({ config: p.config, metrics: p.getMetrics(), health: p.getHealth() })),
      logs: current.logs.records,
    });
    expect(inspect(pool, { depth: 4 })).to.not.match(/PRIVATE KEY-----/);
    expect(status).to.include(certs.key);
    expect(status).to.not.match(/-----BEGIN/);
    expect(status).to.not.include(certs.clientKeyPem.split('\n')[1]);

    const keyPem = certs.clientKeyPem;
    let err: unknown;
    try {
      srv().updateConfig({ tls: { key: keyPem } });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigValidationError);
    const text = `${(err as Error).message} ${JSON.stringify((err as ConfigValidationError).problems)}`;
    expect(text).to.match(/https\.tls\.key: must be the path of the private key file, not its PEM text/);
    expect(text).to.not.match(/-----BEGIN/);
    expect(text).to.not.include(keyPem.split('\n')[1].slice(0, 20));
    expect(srv().config.tls.key).to.equal(certs.key);

    srv().updateConfig({ tls: { cert: certs.cert2, key: certs.key2 } });
    expect(inspect(pool, { depth: 4 })).to.not.match(/PRIVATE KEY-----/);
  });
});
