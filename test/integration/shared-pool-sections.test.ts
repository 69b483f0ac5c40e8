import 'reflect-metadata';
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, unlinkSync, writeFileSync } from 'node:fs';
import type * as http from 'node:http';
import * as net from 'node:net';
import { join } from 'node:path';
import WebSocket, { type RawData } from 'ws';
import {
  ConfigValidationError,
  ConnectionPoolEvent,
  GrpcConnectionPool,
  GrpcPoolConfig,
  GrpcServer,
  HttpConnectionPool,
  HttpPoolConfig,
  HttpServer,
  HttpsConnectionPool,
  HttpsPoolConfig,
  HttpsServer,
  PoolConfig,
  UsePool,
  WebSocketConnectionPool,
  WebSocketPoolConfig,
  WebSocketServer,
} from '../../src';
import { createTestApp } from '../../src/testing';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { TestHttpServer, waitFor } from '../helpers/http-fixtures';
import { GrpcEchoServer } from '../../samples/multi-protocol/grpc-echo-server';
import { adminPort, get, parseMetrics, valueOf } from './admin-support';

const PYTHON = '/usr/bin/python3';

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
function run(cmd: string, args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin?.end(input);
  });
}

@UsePool(HttpConnectionPool)
class InternalServer extends HttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'internal') config: HttpPoolConfig) {
    super(config);
  }
  handle(_req: http.IncomingMessage, res: http.ServerResponse): void {
    res.end('internal');
  }
}

@UsePool(HttpConnectionPool)
class SameSectionServer extends HttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }
  handle(_req: http.IncomingMessage, res: http.ServerResponse): void {
    res.end('same');
  }
}

@UsePool(WebSocketConnectionPool)
class EchoA extends WebSocketServer {
  constructor(@PoolConfig(WebSocketPoolConfig, 'ws') config: WebSocketPoolConfig) {
    super(config);
  }
  onMessage(socket: WebSocket, data: RawData): void {
    this.send(socket, `a:${data.toString()}`);
  }
}

@UsePool(WebSocketConnectionPool)
class EchoB extends WebSocketServer {
  constructor(@PoolConfig(WebSocketPoolConfig, 'ws2') config: WebSocketPoolConfig) {
    super(config);
  }
  onMessage(socket: WebSocket, data: RawData): void {
    this.send(socket, `b:${data.toString()}`);
  }
}

@UsePool(HttpsConnectionPool)
class PublicTls extends HttpsServer {
  constructor(@PoolConfig(HttpsPoolConfig, 'https') config: HttpsPoolConfig) {
    super(config);
  }
  handle(_req: http.IncomingMessage, res: http.ServerResponse): void {
    res.end('public');
  }
}

@UsePool(HttpsConnectionPool)
class PartnerTls extends HttpsServer {
  constructor(@PoolConfig(HttpsPoolConfig, 'partner') config: HttpsPoolConfig) {
    super(config);
  }
  handle(_req: http.IncomingMessage, res: http.ServerResponse): void {
    res.end('partner');
  }
}

@UsePool(GrpcConnectionPool)
class PartnerGrpc extends GrpcServer {
  constructor(@PoolConfig(GrpcPoolConfig, 'grpc2') config: GrpcPoolConfig) {
    super(config);
  }
  protected registerServices(): void {}
}

const PY_WS = `
import asyncio, sys, websockets
async def main(good, bad):
    async with websockets.connect(good) as ws:
        await ws.send("hi")
        print("echo", await ws.recv())
    try:
        async with websockets.connect(bad):
            print("bad open")
    except websockets.exceptions.InvalidStatusCode as e:
        print("bad", e.status_code)
asyncio.run(main(sys.argv[1], sys.argv[2]))
`;

/** The PEM certificate `openssl s_client` was served on `port` with SNI localhost. */
async function servedCertificate(port: number, extra: string[] = []): Promise<{ fingerprint?: string; out: string }> {
  const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...extra], '');
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
  return { fingerprint: pem ? new X509Certificate(pem).fingerprint256 : undefined, out: r.stdout + r.stderr };
}

async function curlStatus(port: number, args: string[] = []): Promise<{ status: string; retryAfter?: string; code: number }> {
  const r = await run('/usr/bin/curl', ['-sS', '-D', '-', '-o', '/dev/null', ...args, `http://127.0.0.1:${port}/`]);
  const status = /^HTTP\/1\.1 (\d+)/m.exec(r.stdout)?.[1] ?? '000';
  const retryAfter = /^retry-after: *(\S+)/im.exec(r.stdout)?.[1];
  return { status, retryAfter, code: r.code };
}

describe('one server, one section: servers sharing a pool', () => {
  let app: ReturnType<typeof createTestApp> | undefined;
  let certs: TlsFixtures;
  const sockets: net.Socket[] = [];

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  it('item 9: two WebSocket servers on one pool each accept upgrades on their own path (Python websockets)', async () => {
    app = createTestApp({ servers: [EchoA, EchoB], sections: { ws2: WebSocketPoolConfig }, config: { ws: { path: '/a' }, ws2: { path: '/b' } } });
    await app.start();
    expect(app.server(EchoA).pool).to.equal(app.server(EchoB).pool);
    const portA = app.server(EchoA).address()!.port;
    const portB = app.server(EchoB).address()!.port;
    const b = await run(PYTHON, ['-c', PY_WS, `ws://127.0.0.1:${portB}/b`, `ws://127.0.0.1:${portB}/a`]);
    expect(b.stdout, b.stderr).to.equal('echo b:hi\nbad 404\n');
    const a = await run(PYTHON, ['-c', PY_WS, `ws://127.0.0.1:${portA}/a`, `ws://127.0.0.1:${portA}/b`]);
    expect(a.stdout, a.stderr).to.equal('echo a:hi\nbad 404\n');
    expect(app.server(EchoB).config.path).to.equal('/b');
  });

  it('item 9: two HTTPS servers on one pool serve their own certificate and client-certificate policy (openssl s_client, curl)', async () => {
    const clientCert = join(certs.dir, 'client-cert.pem');
    const clientKey = join(certs.dir, 'client-key.pem');
    writeFileSync(clientCert, certs.clientCertPem);
    writeFileSync(clientKey, certs.clientKeyPem);
    app = createTestApp({
      servers: [PublicTls, PartnerTls],
      sections: { partner: HttpsPoolConfig },
      config: { https: { tls: { cert: certs.cert, key: certs.key } }, partner: { tls: { cert: certs.cert2, key: certs.key2, ca: certs.clientCa, requestCert: true } } },
    });
    await app.start();
    const portA = app.server(PublicTls).address()!.port;
    const portB = app.server(PartnerTls).address()!.port;
    const fp1 = new X509Certificate(certs.certPem).fingerprint256;
    const fp2 = new X509Certificate(certs.cert2Pem).fingerprint256;
    const tlsArgs = ['--cert', clientCert, '--key', clientKey];
    expect((await servedCertificate(portA)).fingerprint).to.equal(fp1);
    expect((await servedCertificate(portB, tlsArgs)).fingerprint).to.equal(fp2);

    const curl = (port: number, ca: string, extra: string[] = []) =>
      run('/usr/bin/curl', ['-sS', '--resolve', `localhost:${port}:127.0.0.1`, '--cacert', ca, ...extra, '-o', '-', '-w', ' %{http_code}', `https://localhost:${port}/`]);
    expect((await curl(portA, certs.cert)).stdout).to.equal('public 200');
    expect((await curl(portB, certs.cert2, tlsArgs)).stdout).to.equal('partner 200');
    const refused = await curl(portB, certs.cert2);
    expect(refused.code, 'partner requires a client certificate').to.not.equal(0);
    expect(refused.stdout).to.not.include('partner');
  });

  it("item 9: a reload of the second HTTPS section's certificate reaches the second server only; pool.reloadCertificate() re-reads each server's files", async () => {
    const liveCert = join(certs.dir, 'partner-live-cert.pem');
    const liveKey = join(certs.dir, 'partner-live-key.pem');
    copyFileSync(certs.cert, liveCert);
    copyFileSync(certs.key, liveKey);
    const https = { host: '127.0.0.1', port: 0, tls: { cert: certs.cert, key: certs.key } };
    app = createTestApp({ servers: [PublicTls, PartnerTls], sections: { partner: HttpsPoolConfig }, config: { https, partner: https } });
    await app.start();
    const portA = app.server(PublicTls).address()!.port;
    const portB = app.server(PartnerTls).address()!.port;
    const fp1 = new X509Certificate(certs.certPem).fingerprint256;
    const fp2 = new X509Certificate(certs.cert2Pem).fingerprint256;

    const result = await app.reload({ https, partner: { ...https, tls: { cert: liveCert, key: liveKey } } });
    expect(result.ok, JSON.stringify(result.problems)).to.equal(true);
    expect(result.applied).to.deep.equal(['partner.tls']);
    expect((await servedCertificate(portB)).fingerprint).to.equal(fp1);

    copyFileSync(certs.cert2, liveCert);
    copyFileSync(certs.key2, liveKey);
    const pool = app.server(PartnerTls).pool;
    expect(pool.reloadCertificate()).to.equal(true);
    expect((await servedCertificate(portB)).fingerprint).to.equal(fp2);
    expect((await servedCertificate(portA)).fingerprint).to.equal(fp1);
    expect(pool.reloadCertificate()).to.equal(false);
    expect(pool.getMetrics().tls.certificateReloads, 'the reload to new paths, then the renewal in place').to.deep.equal({ applied: 2, rejected: 0 });
  });

  it('item 9: each server answers its 503 with its own retryAfter, also after a reload of the second section (curl)', async () => {
    app = createTestApp({
      servers: [TestHttpServer, InternalServer],
      sections: { internal: HttpPoolConfig },
      config: { http: { maxConnections: 1, retryAfter: 2 }, internal: { maxConnections: 1, retryAfter: 9 } },
    });
    await app.start();
    const pool = app.server(TestHttpServer).pool;
    const portA = app.server(TestHttpServer).address()!.port;
    const portB = app.server(InternalServer).address()!.port;
    const holder = net.connect(portA, '127.0.0.1');
    sockets.push(holder);
    await waitFor(() => pool.size === 1, 5000, 'the held connection');
    expect(await curlStatus(portA)).to.include({ status: '503', retryAfter: '2' });
    expect(await curlStatus(portB)).to.include({ status: '503', retryAfter: '9' });

    const result = await app.reload({ http: { host: '127.0.0.1', port: 0, maxConnections: 1, retryAfter: 2 }, internal: { host: '127.0.0.1', port: 0, maxConnections: 1, retryAfter: 11 } });
    expect(result.ok, JSON.stringify(result.problems)).to.equal(true);
    expect(result.applied).to.deep.equal(['internal.retryAfter']);
    expect(await curlStatus(portB)).to.include({ status: '503', retryAfter: '11' });
    expect(await curlStatus(portA)).to.include({ status: '503', retryAfter: '2' });
  });

  it("item 9: a reload of the second section's timeouts applies to the second server only and is reported", async () => {
    app = createTestApp({ servers: [TestHttpServer, InternalServer], sections: { internal: HttpPoolConfig } });
    await app.start();
    const portB = app.server(InternalServer).address()!.port;
    const result = await app.reload({ http: { host: '127.0.0.1', port: 0 }, internal: { host: '127.0.0.1', port: 0, headersTimeout: 300, keepAliveTimeout: 700 } });
    expect(result.ok, JSON.stringify(result.problems)).to.equal(true);
    expect(result.applied).to.have.members(['internal.headersTimeout', 'internal.keepAliveTimeout']);
    expect(app.server(InternalServer).config.headersTimeout).to.equal(300);
    expect(app.server(TestHttpServer).config.headersTimeout).to.equal(60_000);
    // A client that never finishes its headers now gets 408 from the second server within its new headersTimeout.
    const started = Date.now();
    const reply = await new Promise<string>((resolve) => {
      const s = net.connect(portB, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n'));
      sockets.push(s);
      let data = '';
      s.on('data', (c) => (data += c));
      s.on('error', () => undefined);
      s.once('close', () => resolve(data));
    });
    expect(reply).to.match(/^HTTP\/1\.1 408/);
    expect(Date.now() - started).to.be.below(5000);
  });

  it('item 9: sections sharing a pool that disagree on a pool setting fail the boot, naming both paths', async () => {
    app = createTestApp({ servers: [TestHttpServer, InternalServer], sections: { internal: HttpPoolConfig }, config: { http: { maxConnections: 100 }, internal: { maxConnections: 5 } } });
    const err = (await app.start().catch((e: unknown) => e)) as Error;
    expect(err.message).to.contain('http.maxConnections (100) differs from internal.maxConnections (5): servers TestHttpServer and InternalServer share HttpConnectionPool');
    expect(app.state).to.equal('failed');
  });

  it('item 9: a reload that makes sections sharing a pool disagree is refused, and the running config stays', async () => {
    app = createTestApp({ servers: [TestHttpServer, InternalServer], sections: { internal: HttpPoolConfig }, config: { http: { maxConnections: 50 }, internal: { maxConnections: 50 } } });
    await app.start();
    const result = await app.reload({ http: { host: '127.0.0.1', port: 0, maxConnections: 50 }, internal: { host: '127.0.0.1', port: 0, maxConnections: 5, retryAfter: 4 } });
    expect(result.ok).to.equal(false);
    expect(result.problems.map((p) => p.message).join('\n')).to.contain('http.maxConnections (50) differs from internal.maxConnections (5): servers TestHttpServer and InternalServer share HttpConnectionPool');
    expect(app.server(TestHttpServer).pool.config.maxConnections).to.equal(50);
    expect(app.server(InternalServer).config.retryAfter).to.equal(1);
  });

  it('item 10: two servers reading one section with a fixed port fail validation before any port opens', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    app = createTestApp({ servers: [TestHttpServer, SameSectionServer], config: { http: { port } } });
    const err = (await app.start().catch((e: unknown) => e)) as Error;
    expect(err).to.be.instanceOf(ConfigValidationError);
    expect(err.message).to.contain(`http.port: servers TestHttpServer and SameSectionServer both read section 'http' and cannot both listen on port ${port}`);
    expect(app.logs.find('listening')).to.have.length(0);
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).to.equal('ECONNREFUSED');
  });

  it('item 10: two servers may read one section with port 0 (each gets a free port)', async () => {
    app = createTestApp({ servers: [TestHttpServer, SameSectionServer] });
    await app.start();
    expect(app.server(TestHttpServer).address()!.port).to.not.equal(app.server(SameSectionServer).address()!.port);
  });

  it('review: a gRPC pool shared by two TLS servers reports the soonest certificate expiry, and forgets a closed server\'s', async () => {
    app = createTestApp({
      servers: [GrpcEchoServer, PartnerGrpc],
      sections: { grpc2: GrpcPoolConfig },
      config: { grpc: { tls: { cert: certs.soonCert, key: certs.soonKey } }, grpc2: { tls: { cert: certs.cert, key: certs.key } }, admin: {} },
    });
    await app.start();
    const expiry = async (): Promise<number | undefined> => valueOf(parseMetrics((await get(adminPort(app!), '/metrics')).body).samples, 'unipool_tls_certificate_expiry_seconds', { protocol: 'grpc' });
    const days = (seconds: number | undefined): number => (seconds ?? NaN) / 86_400;
    expect(days(await expiry()), 'the 5-day certificate of the first server').to.be.within(4, 5.01);
    await app.server(GrpcEchoServer).close();
    expect(days(await expiry()), "the closed server's certificate is forgotten: the partner's (about a year) is left").to.be.greaterThan(300);
  });

  it('review: pool.updateConfig() of a pool key reads no TLS file (a key mid-rotation) and names the pool in problem paths', async () => {
    const keyFile = join(certs.dir, 'rotating-key.pem');
    copyFileSync(certs.key2, keyFile);
    app = createTestApp({ servers: [PartnerTls], sections: { partner: HttpsPoolConfig }, config: { partner: { tls: { cert: certs.cert2, key: keyFile } } } });
    await app.start();
    const server = app.server(PartnerTls);
    expect(server.pool.name).to.equal('partner');
    unlinkSync(keyFile); // mid-rotation: the old key is gone, the new one not yet written
    try {
      expect(server.pool.updateConfig({ maxConnections: 5 }).applied).to.deep.equal(['maxConnections']);
      expect(server.pool.config.maxConnections).to.equal(5);
      const err = (() => {
        try {
          server.pool.updateConfig({ maxConnections: 0 });
        } catch (e) {
          return e as ConfigValidationError;
        }
        return undefined;
      })();
      expect(err).to.be.instanceOf(ConfigValidationError);
      expect(err!.problems.map((p) => p.path)).to.deep.equal(['partner.maxConnections']);
      const port = server.address()!.port;
      const r = await run('/usr/bin/curl', ['-sS', '--resolve', `localhost:${port}:127.0.0.1`, '--cacert', certs.cert2, '-o', '-', '-w', ' %{http_code}', `https://localhost:${port}/`]);
      expect(r.stdout).to.equal('partner 200');
    } finally {
      copyFileSync(certs.key2, keyFile);
    }
  });

  it('item 25: an HTTP server that closes leaves no listener or attachment on the pool it shared', async () => {
    app = createTestApp({ servers: [TestHttpServer, InternalServer], sections: { internal: HttpPoolConfig } });
    const pool = new HttpConnectionPool();
    const baseline = pool.events.listenerCount(ConnectionPoolEvent.DrainStarted);
    const attached: string[] = [];
    const attach = pool.attachServer.bind(pool);
    const detach = pool.detachServer.bind(pool);
    pool.attachServer = (s) => {
      attached.push(`+${(s as unknown as { name: string }).name}`);
      attach(s);
    };
    pool.detachServer = (s) => {
      attached.push(`-${(s as unknown as { name: string }).name}`);
      detach(s);
    };
    app.container.rebind(HttpConnectionPool).toConstantValue(pool);
    await app.start();
    // The drain no longer needs a DrainStarted listener (the pool decides which sockets are idle):
    // none is added while the servers run, and none is left after they close.
    expect(pool.events.listenerCount(ConnectionPoolEvent.DrainStarted)).to.equal(baseline);
    await app.server(InternalServer).close();
    await app.server(TestHttpServer).close();
    expect(pool.events.listenerCount(ConnectionPoolEvent.DrainStarted)).to.equal(baseline);
    expect(attached).to.deep.equal(['+TestHttpServer', '+InternalServer', '-InternalServer', '-TestHttpServer']);
  });
});
