import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { expect } from 'chai';
import { ConfigValidationError, type Application } from '../../src';
import { createTestApp } from '../../src/testing';
import { HttpApiServer } from '../../samples/multi-protocol/http-api-server';
import { curlStatus } from '../helpers/metrics-clients';
import { OtlpReceiver } from '../helpers/otlp-receiver';
import { REPO_ROOT, portZeroSampleConfig, startSample, waitForOutput, writeTempConfig, type SampleProcess } from '../helpers/sample-process';

/** A reader the test collects from by hand (the SDK ships only the periodic one). */
class ManualReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

function histogramCount(collected: ResourceMetrics, name: string): number {
  let count = 0;
  for (const scope of collected.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== name) continue;
      for (const point of metric.dataPoints) count += (point.value as { count: number }).count;
    }
  }
  return count;
}

describe('OpenTelemetry in an application: the sample, a meterProvider of the app, and zero cost when off', function () {
  this.timeout(30_000);
  let receiver: OtlpReceiver | undefined;
  let sample: SampleProcess | undefined;
  let app: Application | undefined;

  afterEach(async () => {
    if (sample && sample.child.exitCode === null && sample.child.signalCode === null) {
      sample.child.kill('SIGKILL');
      await sample.exited;
    }
    sample = undefined;
    if (app?.state === 'running') await app.stop();
    app = undefined;
    await receiver?.close();
    receiver = undefined;
  });

  it('the sample (npm start) exports to OTEL_EXPORTER_OTLP_ENDPOINT with OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS, with no code change; SIGTERM sends the last export', async () => {
    receiver = await new OtlpReceiver().listen();
    sample = startSample('dist/samples/multi-protocol/main.js', writeTempConfig(portZeroSampleConfig()), {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
      OTEL_SERVICE_NAME: 'unipool-sample',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,service.version=1.2.3',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=sample-key',
    });
    const [, port] = await waitForOutput(sample, /http\s+HttpApiServer listening on 127\.0\.0\.1:(\d+)/);
    await waitForOutput(sample, /admin\s+AdminServer listening/);
    for (let i = 0; i < 3; i++) expect(await curlStatus(`http://127.0.0.1:${port}/`)).to.equal(200);
    sample.child.kill('SIGTERM');
    expect(await sample.exited).to.equal(0);
    expect(receiver.failures).to.deep.equal([]);
    expect(receiver.paths).to.deep.equal(['POST /v1/metrics']);
    expect(receiver.headers[0]['x-api-key']).to.equal('sample-key'); // read by the exporter itself
    const exported = receiver.exports[0];
    expect(exported.contentType).to.match(/^application\/json/);
    expect(exported.resource).to.include({ 'service.name': 'unipool-sample', 'deployment.environment.name': 'test', 'service.version': '1.2.3' });
    const requests = receiver.points('http.server.request.duration', { 'unipool.pool': 'http', 'http.request.method': 'GET', 'http.response.status_code': 200 });
    expect(requests).to.have.length(1);
    expect(requests[0].count).to.equal(3);
    // Every pool of the sample is there, by name and protocol.
    const pools = receiver.points('unipool.active_connections').map((p) => `${p.attributes['unipool.pool']}/${p.attributes['network.protocol.name']}`);
    expect(pools.sort()).to.deep.equal(['grpc/grpc', 'http/http', 'https/https', 'ws/ws']);
  });

  it('an app passing its own meterProvider gets the instruments on it (OTEL_* ignored, nothing exported), and unipool leaves it open at shutdown', async () => {
    receiver = await new OtlpReceiver().listen();
    const reader = new ManualReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    app = createTestApp({ servers: [HttpApiServer], meterProvider, env: { OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: receiver.url } });
    await app.start();
    const url = `http://127.0.0.1:${app.server(HttpApiServer).address()!.port}/`;
    expect(await curlStatus(url)).to.equal(200);
    expect(await curlStatus(url)).to.equal(200);
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).to.deep.equal([]);
    expect(resourceMetrics.scopeMetrics.map((s) => s.scope.name)).to.deep.equal(['unipool']);
    expect(histogramCount(resourceMetrics, 'http.server.request.duration')).to.equal(2);
    await app.stop();
    expect(receiver.exports).to.deep.equal([]);
    expect((await reader.collect()).errors).to.deep.equal([]); // still open: the app's to shut down
    await meterProvider.shutdown();
  });

  it('an invalid OTEL_* variable fails the boot with UNIPOOL_CONFIG_INVALID naming it, before any server listens', async () => {
    const failing = createTestApp({ servers: [HttpApiServer], env: { OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } });
    let caught: unknown;
    await failing.start().catch((err: unknown) => (caught = err));
    expect(caught).to.be.instanceOf(ConfigValidationError);
    expect((caught as ConfigValidationError).problems[0].path).to.equal('env.OTEL_EXPORTER_OTLP_PROTOCOL');
    expect(failing.logs.find('listening')).to.deep.equal([]);
    expect(failing.state).to.equal('failed');
  });

  it('OTel not configured: neither the SDK, the resources nor an exporter is loaded (only the API prom-client itself loads), and no pool has an observer (the hot path checks one field)', async () => {
    const script = `
      require('reflect-metadata');
      const { createTestApp } = require(${JSON.stringify(join(REPO_ROOT, 'dist/src/testing'))});
      const { HttpApiServer } = require(${JSON.stringify(join(REPO_ROOT, 'dist/samples/multi-protocol/http-api-server'))});
      const http = require('node:http');
      (async () => {
        const app = createTestApp({ servers: [HttpApiServer] });
        await app.start();
        const port = app.server(HttpApiServer).address().port;
        await new Promise((resolve) => http.get({ port, host: '127.0.0.1', agent: false }, (res) => res.resume().on('end', resolve)));
        const observers = app.pools.map((p) => p.observer);
        await app.stop();
        // Package names only; prom-client (a dependency of unipool) loads @opentelemetry/api itself, for exemplars.
        const loaded = [...new Set(Object.keys(require.cache).map((f) => f.split('node_modules/').pop().split('/').slice(0, 2).join('/')).filter((name) => name.startsWith('@opentelemetry/')))].sort();
        console.log(JSON.stringify({ loaded, observers: observers.map(String) }));
      })();
    `;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['-e', script], { cwd: REPO_ROOT, timeout: 20_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
    );
    expect(JSON.parse(out.trim().split('\n').pop()!)).to.deep.equal({ loaded: ['@opentelemetry/api'], observers: ['undefined'] });
  });
});
