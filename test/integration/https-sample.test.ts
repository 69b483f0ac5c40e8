import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, portZeroSampleConfig, startSample, waitForOutput, writeTempConfig, type SampleProcess } from '../helpers/sample-process';
import { get, makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';

const SCRIPT = 'dist/samples/multi-protocol/main.js';

describe('samples/multi-protocol over HTTPS (as a process)', function () {
  this.timeout(30_000);
  let sample: SampleProcess | undefined;
  let certs: TlsFixtures;

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());
  afterEach(async () => {
    if (sample && sample.child.exitCode === null) {
      sample.child.kill('SIGKILL');
      await sample.exited;
    }
    sample = undefined;
  });

  it('serves the demo routes over TLS with a self-signed localhost certificate made and cached at first start', async () => {
    const config = portZeroSampleConfig();
    expect(config.https.tls).to.not.have.property('cert');
    sample = startSample(SCRIPT, writeTempConfig(config));
    const cert = await waitForOutput(sample, /https\s+self-signed localhost certificate (\S+)/);
    const m = await waitForOutput(sample, /https\s+HttpsApiServer listening on 127\.0\.0\.1:(\d+)/);
    expect(cert[1]).to.equal(join(REPO_ROOT, '.cache/unipool-sample-tls/localhost-cert.pem'));
    const ca = readFileSync(cert[1], 'utf8');
    const port = Number(m[1]);
    const hello = await get(port, '/', { ca });
    expect(hello.status).to.equal(200);
    expect(hello.body).to.equal('hello');
    expect(hello.peer.subject.CN).to.equal('localhost');
    expect((await get(port, '/slow?ms=20', { ca })).body).to.equal('slept 20 ms\n');
    expect((await get(port, '/slow?ms=abc', { ca })).status).to.equal(400);
    sample.child.kill('SIGTERM');
    expect(await sample.exited).to.equal(0);

    sample = startSample(SCRIPT, writeTempConfig(config));
    await waitForOutput(sample, /HttpsApiServer listening/);
    expect(sample.stdout()).to.match(/self-signed localhost certificate \S+\n/);
    expect(sample.stdout()).to.not.contain('(made now)');
    expect(readFileSync(cert[1], 'utf8')).to.equal(ca);
  });

  it('uses the configured certificate when there is one', async () => {
    const config = portZeroSampleConfig();
    config.https.tls = { cert: certs.cert, key: certs.key };
    config.http2.tls = { cert: certs.cert, key: certs.key };
    sample = startSample(SCRIPT, writeTempConfig(config));
    const m = await waitForOutput(sample, /https\s+HttpsApiServer listening on 127\.0\.0\.1:(\d+)/);
    expect(sample.stdout()).to.not.contain('self-signed');
    const reply = await get(Number(m[1]), '/', { ca: certs.certPem });
    expect(reply.body).to.equal('hello');
  });

  it('refuses to start when the configured certificate is missing, naming the path', async () => {
    const config = portZeroSampleConfig();
    config.https.tls = { cert: join(certs.dir, 'absent.pem'), key: certs.key };
    sample = startSample(SCRIPT, writeTempConfig(config));
    expect(await sample.exited).to.equal(1);
    expect(sample.stderr()).to.contain(`https.tls.cert: cannot read certificate file ${join(certs.dir, 'absent.pem')} (ENOENT)`);
    expect(sample.stdout()).to.not.contain('listening');
  });
});
