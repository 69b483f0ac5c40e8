import { expect } from 'chai';
import { portZeroSampleConfig, startSample, waitForOutput, writeTempConfig, type SampleProcess } from '../helpers/sample-process';
import { request } from '../helpers/http-fixtures';

const SCRIPT = 'dist/samples/multi-protocol/main.js';

describe('samples/multi-protocol as a process (npm start)', function () {
  this.timeout(30_000);
  let sample: SampleProcess | undefined;

  afterEach(async () => {
    if (sample && sample.child.exitCode === null) {
      sample.child.kill('SIGKILL');
      await sample.exited;
    }
    sample = undefined;
  });

  it('prints one line per endpoint, serves GET / and /slow, and exits 0 on SIGTERM', async () => {
    sample = startSample(SCRIPT, writeTempConfig(portZeroSampleConfig()));
    const m = await waitForOutput(sample, /http\s+HttpApiServer listening on 127\.0\.0\.1:(\d+)/);
    const port = Number(m[1]);
    expect((await request(port, '/')).body).to.equal('hello');
    const slow = await request(port, '/slow?ms=50');
    expect(slow.status).to.equal(200);
    expect((await request(port, '/slow?ms=abc')).status).to.equal(400);
    const inflight = request(port, '/slow?ms=300');
    await new Promise((r) => setTimeout(r, 50));
    sample.child.kill('SIGTERM');
    expect((await inflight).status).to.equal(200);
    expect(await sample.exited).to.equal(0);
  });

  it('exits non-zero before listening when the config file is invalid, listing every problem', async () => {
    sample = startSample(SCRIPT, writeTempConfig({ http: { port: 70000, maxConnections: 0 }, shutdown: { timeout: 'soon' } }));
    const code = await sample.exited;
    expect(code).to.equal(1);
    expect(sample.stdout()).to.not.contain('listening');
    const err = sample.stderr();
    expect(err).to.contain('http.port: must not be greater than 65535 (got 70000)');
    expect(err).to.contain('http.maxConnections: must not be less than 1 (got 0)');
    expect(err).to.contain('shutdown.timeout');
  });

  it('exits non-zero with a clear message when the config file is not JSON', async () => {
    sample = startSample(SCRIPT, writeTempConfig('{ not json'));
    expect(await sample.exited).to.equal(1);
    expect(sample.stderr()).to.match(/is not valid JSON/);
  });
});
