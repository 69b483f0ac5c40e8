import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { generate } from 'selfsigned';
import { ConfigValidationError, type Application, type GrpcConnectionPool } from '../../src';
import { createTestApp } from '../../src/testing';
import { GrpcEchoServer } from '../../samples/multi-protocol/grpc-echo-server';
import { bootError, closeClients, echoClient, portOf, unary } from '../helpers/grpc';

describe('gRPC server over TLS', () => {
  let dir: string;
  let certFile: string;
  let keyFile: string;
  let certPem: string;
  let app: Application | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'unipool-grpc-tls-'));
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048, algorithm: 'sha256' });
    certPem = pems.cert;
    certFile = join(dir, 'cert.pem');
    keyFile = join(dir, 'key.pem');
    writeFileSync(certFile, pems.cert);
    writeFileSync(keyFile, pems.private);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    closeClients();
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  it('serves calls over TLS with the configured certificate and drains the TLS connection gracefully', async () => {
    app = createTestApp({ servers: [GrpcEchoServer], config: { grpc: { tls: { cert: certFile, key: keyFile } }, shutdown: { timeout: 5000 } } });
    await app.start();
    const pool = app.servers[0].pool as GrpcConnectionPool;
    const client = echoClient(portOf(app), { 'grpc.ssl_target_name_override': 'localhost' }, grpc.credentials.createSsl(Buffer.from(certPem)));
    const slow = unary(client, 'Echo', { message: 'secure', delay_ms: 100 });
    const insecure = echoClient(portOf(app));
    const plain = await unary(insecure, 'Echo', { message: 'plain' }, { deadline: Date.now() + 5000 });
    expect(plain.code).to.equal(grpc.status.UNAVAILABLE);
    const result = await app.stop();
    expect(await slow).to.deep.include({ code: grpc.status.OK, message: 'secure' });
    expect(result).to.include({ ok: true, forced: 0 });
    expect(pool.getMethod('/demo.Echo/Echo')?.codes).to.deep.equal({ OK: 1 });
  });

  it('refuses to boot when a TLS file cannot be read, naming the file, and opens no port', async () => {
    const missing = join(dir, 'absent.pem');
    app = createTestApp({ servers: [GrpcEchoServer], config: { grpc: { tls: { cert: missing, key: keyFile } } } });
    const error = await bootError(app);
    expect(error).to.be.instanceOf(ConfigValidationError);
    const problem = (error as ConfigValidationError).problems[0];
    expect(problem.path).to.equal('grpc.tls.cert');
    expect(problem.message).to.contain(missing);
    expect(app.state).to.equal('failed');
    expect(app.servers.map((s) => s.address())).to.deep.equal(app.servers.map(() => undefined));
  });
});
