import 'reflect-metadata';
import { IsOptional, IsString } from 'class-validator';
import { expect } from 'chai';
import { createTestApp } from '../../src/testing';
import { AdminTestServer, adminPort, get } from './admin-support';

const TOKEN = 'tok-Zq81mPlx93Yv0aRs';
const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';

/** A user section holding secrets, as a TLS or database section would. */
class VaultConfig {
  @IsString() apiKey = 'apikey-VALUE-1234';
  @IsString() dbPassword = 'pw-VALUE-5678';
  @IsString() clientSecret = 'secret-VALUE-9012';
  @IsString() certificate = PEM;
  @IsOptional() @IsString() passphrase?: string = 'phrase-VALUE-3456';
  @IsString() keepAliveName = 'visible-value';
}

const SECRETS = [TOKEN, 'apikey-VALUE-1234', 'pw-VALUE-5678', 'secret-VALUE-9012', 'BEGIN PRIVATE KEY', 'phrase-VALUE-3456'];

describe('admin /status and bearer token', () => {
  let app: ReturnType<typeof createTestApp> | undefined;
  afterEach(async () => {
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  async function start(): Promise<number> {
    app = createTestApp({ servers: [AdminTestServer], sections: { vault: VaultConfig }, config: { admin: { token: TOKEN }, vault: {} } });
    await app.start();
    return adminPort(app);
  }

  it('serves every pool\'s health, reason, metrics and effective config, and no secret, key material or token', async () => {
    const port = await start();
    const reply = await get(port, '/status', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(reply.status).to.equal(200);
    const status = JSON.parse(reply.body);
    expect(status).to.include({ state: 'running', ready: true });
    expect(status.pools).to.have.length(1);
    const [pool] = status.pools;
    expect(pool).to.include({ protocol: 'http', pool: 'http', poolClass: 'HttpConnectionPool' });
    expect(pool.health).to.include({ status: 'HEALTHY', reason: 'ok' });
    expect(pool.metrics).to.include({ protocol: 'http', maxConnections: 1000 });
    expect(pool.config).to.include({ maxConnections: 1000, idleTimeout: 0 });
    expect(pool.config, "a server's own keys are under its section, not the pool").to.not.have.property('keepAliveTimeout');
    expect(status.config.http).to.include({ keepAliveTimeout: 5000, host: '127.0.0.1' });
    expect(status.config.admin.token).to.equal('[redacted]');
    expect(status.config.vault).to.deep.equal({
      apiKey: '[redacted]',
      dbPassword: '[redacted]',
      clientSecret: '[redacted]',
      certificate: '[redacted]',
      passphrase: '[redacted]',
      keepAliveName: 'visible-value',
    });
    for (const secret of SECRETS) expect(reply.body).not.to.include(secret);
  });

  it('review: /status shows a server section and pool settings changed by server.updateConfig() and pool.updateConfig()', async () => {
    const port = await start();
    const server = app!.server(AdminTestServer);
    server.updateConfig({ keepAliveTimeout: 7000 });
    server.pool.updateConfig({ maxConnections: 50 });
    const reply = await get(port, '/status', { headers: { authorization: `Bearer ${TOKEN}` } });
    const status = JSON.parse(reply.body);
    expect(status.config.http).to.include({ keepAliveTimeout: 7000, maxConnections: 50 });
    expect(status.pools[0].config).to.include({ maxConnections: 50 });
    expect(app!.config!.get('http')).to.include({ keepAliveTimeout: 7000, maxConnections: 50 });
  });

  it('requires the bearer token on /metrics and /status, not on the probes', async () => {
    const port = await start();
    for (const path of ['/metrics', '/status']) {
      const none = await get(port, path);
      expect(none.status, path).to.equal(401);
      expect(none.headers['www-authenticate']).to.equal('Bearer realm="unipool"');
      expect((await get(port, path, { headers: { authorization: `Bearer ${TOKEN}x` } })).status, path).to.equal(401);
      expect((await get(port, path, { headers: { authorization: `Basic ${TOKEN}` } })).status, path).to.equal(401);
      expect((await get(port, path, { headers: { authorization: `Bearer ${TOKEN}` } })).status, path).to.equal(200);
    }
    expect((await get(port, '/healthz')).status).to.equal(200);
    expect((await get(port, '/readyz')).status).to.equal(200);
  });

  it('never writes the token or a secret to the logs, even when it is rejected as invalid', async () => {
    await start();
    await app!.stop();
    const shortToken = 'Sh0rt$tok';
    const bad = createTestApp({ servers: [AdminTestServer], config: { admin: { token: shortToken } } });
    const err = await bad.start().then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).to.equal('UNIPOOL_CONFIG_INVALID');
    expect(err?.message).to.include('admin.token');
    expect(err?.message).not.to.include(shortToken);
    const logged = JSON.stringify([...app!.logs.records, ...bad.logs.records], (_k, v: unknown) => (v instanceof Error ? { message: v.message, stack: v.stack } : v));
    for (const secret of [...SECRETS, shortToken]) expect(logged).not.to.include(secret);
  });
});
