import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConfigLoader, ConfigValidationError, GrpcConnectionPool, GrpcPoolConfig, GrpcServer, ShutdownConfig, validateSection } from '../../src';
import { INJECTED_POOL } from '../../src/core/managed-server';

function problemsOf(plain: unknown): string[] {
  return validateSection(GrpcPoolConfig, plain, 'grpc').problems.map((p) => `${p.path}: ${p.message}`);
}

describe('GrpcPoolConfig (section grpc)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'unipool-grpc-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has gRPC defaults: port 50051, 4 MiB receive limit, 2 h keepalive, 100 calls per connection, the rest off', () => {
    const { value, problems } = validateSection(GrpcPoolConfig, {}, 'grpc');
    expect(problems).to.deep.equal([]);
    expect(value).to.include({ port: 50051, host: '127.0.0.1', keepAliveTime: 7_200_000, keepAliveTimeout: 20_000, maxConnectionAge: 0, maxConnectionIdle: 0, maxConcurrentStreams: 100, maxReceiveMessageLength: 4_194_304, maxSendMessageLength: 0 });
    expect(value?.tls).to.equal(undefined);
  });

  it('accepts every key set to a valid value', () => {
    const { problems } = validateSection(
      GrpcPoolConfig,
      { port: 0, maxConnections: 5, keepAliveTime: 1000, keepAliveTimeout: 500, maxConnectionAge: 60_000, maxConnectionAgeGrace: 5000, maxConnectionIdle: 30_000, maxConcurrentStreams: 100, maxReceiveMessageLength: 1024, maxSendMessageLength: 2048 },
      'grpc',
    );
    expect(problems).to.deep.equal([]);
  });

  it('lists every bad key at once with its path', () => {
    const problems = problemsOf({ keepAliveTime: -1, keepAliveTimeout: 0, maxConcurrentStreams: 1.5, maxReceiveMessageLength: 'big', maxSendMessageLength: 2 ** 31, port: 70_000, colour: 'red' });
    const paths = problems.map((p) => p.split(':')[0]);
    expect(paths).to.include.members(['grpc.keepAliveTime', 'grpc.keepAliveTimeout', 'grpc.maxConcurrentStreams', 'grpc.maxReceiveMessageLength', 'grpc.maxSendMessageLength', 'grpc.port', 'grpc.colour']);
  });

  it('item 8: maxConcurrentStreams defaults to 100 and must be a whole number from 1 (0 no longer means unlimited)', () => {
    expect(new GrpcPoolConfig().maxConcurrentStreams).to.equal(100);
    expect(problemsOf({ maxConcurrentStreams: 0 })).to.have.length(1).and.to.match(/^grpc\.maxConcurrentStreams: /);
    expect(problemsOf({ maxConcurrentStreams: 2 ** 31 })).to.have.length(1);
    expect(problemsOf({ maxConcurrentStreams: 1 })).to.deep.equal([]);
  });

  it('rejects maxConnectionAgeGrace without maxConnectionAge', () => {
    expect(problemsOf({ maxConnectionAgeGrace: 1000 })).to.deep.equal(['grpc.maxConnectionAgeGrace: has no effect unless maxConnectionAge is set']);
  });

  it('requires both cert and key in tls', () => {
    const paths = validateSection(GrpcPoolConfig, { tls: {} }, 'grpc').problems.map((p) => p.path);
    expect(paths).to.include.members(['grpc.tls.cert', 'grpc.tls.key']);
  });

  it('reports a TLS file that cannot be read as a config problem naming the file', () => {
    const missing = join(dir, 'missing-cert.pem');
    const key = join(dir, 'key.pem');
    writeFileSync(key, 'not a key');
    const { problems } = validateSection(GrpcPoolConfig, { tls: { cert: missing, key } }, 'grpc');
    expect(problems).to.have.length(1);
    expect(problems[0].path).to.equal('grpc.tls.cert');
    expect(problems[0].message).to.contain(missing).and.contain('ENOENT');
  });

  it('reports files that are readable but not a usable certificate and key', () => {
    const cert = join(dir, 'garbage-cert.pem');
    const key = join(dir, 'garbage-key.pem');
    writeFileSync(cert, 'garbage');
    writeFileSync(key, 'garbage');
    const { problems } = validateSection(GrpcPoolConfig, { tls: { cert, key } }, 'grpc');
    // Checked like HTTPS TLS: the first file that fails is named (here the certificate).
    expect(problems.map((p) => p.path)).to.deep.equal(['grpc.tls.cert']);
    expect(problems[0].message).to.contain(cert).and.contain('does not hold a PEM certificate');
  });

  it('validates env overrides (UNIPOOL_GRPC_*) together with the file', () => {
    const loader = new ConfigLoader(new Map<string, new () => object>([['grpc', GrpcPoolConfig], ['shutdown', ShutdownConfig]]));
    const env = { UNIPOOL_GRPC_MAX_CONCURRENT_STREAMS: '0', UNIPOOL_GRPC_KEEP_ALIVE_TIME: 'soon', UNIPOOL_GRPC_MAX_CONNECTIONS: '0' };
    let error: unknown;
    try {
      loader.load({ grpc: { port: 0 } }, env);
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(ConfigValidationError);
    const paths = new Set((error as ConfigValidationError).problems.map((p) => p.path));
    // maxConcurrentStreams 0 would refuse every call: invalid since item 8.
    expect([...paths]).to.have.members(['grpc.keepAliveTime', 'grpc.maxConnections', 'grpc.maxConcurrentStreams']);
  });

  it('lists the keys grpc-js reads once at start as needing a restart (on the server; the pool takes its own keys)', () => {
    const pool = new GrpcConnectionPool();
    expect(pool.updateConfig({ maxConnections: 10 }).applied).to.deep.equal(['maxConnections']);
    expect(() => pool.updateConfig({ keepAliveTime: 1000 })).to.throw(ConfigValidationError, 'grpc.keepAliveTime: is a setting of each server');
    class Bare extends GrpcServer {
      protected registerServices(): void {}
    }
    const server = new Bare(new GrpcPoolConfig());
    server[INJECTED_POOL] = pool;
    const result = server.updateConfig({ keepAliveTime: 1000, maxReceiveMessageLength: 10 });
    expect(result.applied).to.deep.equal([]);
    expect(result.restartRequired).to.have.members(['keepAliveTime', 'maxReceiveMessageLength']);
    expect(server.config.keepAliveTime).to.equal(7_200_000);
    expect(pool.config.maxConnections).to.equal(10);
    pool.destroy();
  });
});
