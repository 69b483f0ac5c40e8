import 'reflect-metadata';
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type Application } from '../../src';
import { CapturingLogger } from '../../src/testing';
import { TestHttpServer, request } from '../helpers/http-fixtures';

describe('createApp: config source from the environment, warnings and a failed boot', () => {
  let app: Application | undefined;
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'unipool-config-source-'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    if (app && app.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  function configFile(name: string, config: object): string {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(config));
    return path;
  }

  it('issue 12 packaging: createApp() without `config` reads the file UNIPOOL_CONFIG names', async () => {
    const file = configFile('app.json', { http: { host: '127.0.0.1', port: 0, maxConnections: 7 }, shutdown: { exitDelay: false } });
    const logger = new CapturingLogger();
    app = createApp({ servers: [TestHttpServer], logger, env: { UNIPOOL_CONFIG: file }, handleSignals: false });
    await app.start();
    const server = app.server(TestHttpServer);
    expect(server.config.maxConnections).to.equal(7);
    const port = server.address()?.port as number;
    expect(port).to.be.above(0);
    const res = await request(port, '/');
    expect(res.status).to.equal(200);
    expect(server.pool.getMetrics().requests.total).to.equal(1);
  });

  it('issue 12 packaging: a UNIPOOL_<SECTION>_* variable for a section no server reads is ignored with a warning, not a boot failure', async () => {
    const logger = new CapturingLogger();
    const env = { UNIPOOL_HTTPS_PORT: '3443', UNIPOOL_WS_PATH: '/chat', UNIPOOL_HTTP_PORT: '0', UNIPOOL_HTTP_HOST: '127.0.0.1', UNIPOOL_SHUTDOWN_EXIT_DELAY: 'false' };
    app = createApp({ servers: [TestHttpServer], logger, env, handleSignals: false });
    await app.start();
    expect(app.state).to.equal('running');
    expect(app.config?.has('https')).to.equal(false);
    const warnings = logger.records.filter((r) => r.level === 'warn' && /ignored/.test(r.msg ?? ''));
    expect(warnings).to.have.length(1);
    expect(warnings[0].fields.variables).to.have.members(['UNIPOOL_HTTPS_PORT', 'UNIPOOL_WS_PATH']);
    expect(warnings[0].fields.sections).to.have.members(['https', 'ws']);
  });

  it('issue 12 packaging: a failed boot logs one error line listing every problem (with "did you mean"), no stack', async () => {
    const file = configFile('bad.json', { http: { port: 0, maxConections: 5, idleTimout: 10 } });
    const logger = new CapturingLogger();
    app = createApp({ servers: [TestHttpServer], logger, env: { UNIPOOL_CONFIG: file }, handleSignals: false });
    const err = await app.start().then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err?.code).to.equal('UNIPOOL_CONFIG_INVALID');
    const errors = logger.records.filter((r) => r.level === 'error');
    expect(errors).to.have.length(1);
    expect(errors[0].msg).to.equal(`boot failed: invalid configuration (${file}): 2 problems`);
    expect(errors[0].fields).to.not.have.property('err');
    expect(errors[0].fields.code).to.equal('UNIPOOL_CONFIG_INVALID');
    expect(errors[0].fields.problems).to.deep.equal([
      'http.maxConections: is not a known key (did you mean `maxConnections`?) (got 5)',
      'http.idleTimout: is not a known key (did you mean `idleTimeout`?) (got 10)',
    ]);
  });
});
