import 'reflect-metadata';
import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { expect } from 'chai';
import * as sinon from 'sinon';
import { CapturingLogger } from '../../src/testing';
import { createOtlpMeterProvider } from '../../src/observability/otel/otlp-meter-provider';
import { OtelTelemetry } from '../../src/observability/otel/otel-telemetry';
import type { OtlpSettings } from '../../src/observability/otel/otlp-settings';
import { REPO_ROOT } from '../helpers/sample-process';

interface Result {
  code: number;
  error?: Error;
}

/** Fake SDK packages: they record what unipool builds the exporter and reader with. */
function fakePackages(): { load: (name: string) => unknown; exporters: FakeExporter[]; readers: Record<string, unknown>[] } {
  const exporters: FakeExporter[] = [];
  const readers: Record<string, unknown>[] = [];
  class Exporter extends FakeExporter {
    constructor(options: Record<string, unknown>) {
      super(options);
      exporters.push(this);
    }
  }
  const modules: Record<string, unknown> = {
    '@opentelemetry/api': {},
    '@opentelemetry/sdk-metrics': {
      MeterProvider: class {
        getMeter(): unknown {
          return {};
        }
        async shutdown(): Promise<void> {}
      },
      PeriodicExportingMetricReader: class {
        constructor(options: Record<string, unknown>) {
          readers.push(options);
        }
      },
    },
    '@opentelemetry/resources': { defaultResource: () => ({ merge: (x: unknown) => x }), resourceFromAttributes: (x: unknown) => x },
    '@opentelemetry/exporter-metrics-otlp-proto': { OTLPMetricExporter: Exporter },
  };
  return { load: (name) => modules[name], exporters, readers };
}

class FakeExporter {
  readonly sent: Array<(result: Result) => void> = [];
  constructor(readonly options: Record<string, unknown>) {}
  export(_items: unknown, done: (result: Result) => void): void {
    this.sent.push(done); // never answered unless the test does
  }
}

const SETTINGS: OtlpSettings = {
  endpoint: 'http://collector:4318/v1/metrics',
  protocol: 'http/protobuf',
  exportIntervalMs: 60_000,
  exportTimeoutMs: 30_000,
  resource: { 'service.name': 'x' },
};

describe('OTLP exporter construction and the shutdown deadline (fake SDK packages)', () => {
  it('an export, its retries included, lasts at most min(exportTimeout, shutdown.hookTimeout): exporter and reader get that timeout', () => {
    const fake = fakePackages();
    createOtlpMeterProvider(SETTINGS, new CapturingLogger(), { shutdownTimeoutMs: 2000, load: fake.load });
    expect(fake.exporters[0].options.timeoutMillis).to.equal(2000);
    expect(fake.readers[0].exportTimeoutMillis).to.equal(2000);
    const longer = fakePackages();
    createOtlpMeterProvider({ ...SETTINGS, exportTimeoutMs: 500 }, new CapturingLogger(), { shutdownTimeoutMs: 2000, load: longer.load });
    expect(longer.exporters[0].options.timeoutMillis).to.equal(500);
  });

  it('headers, compression and temporality from the app\'s settings are passed to the exporter explicitly (not read by it from process.env)', () => {
    const fake = fakePackages();
    createOtlpMeterProvider({ ...SETTINGS, headers: { 'x-api-key': 'k' }, compression: 'gzip', temporality: 'delta' }, new CapturingLogger(), { load: fake.load });
    expect(fake.exporters[0].options).to.deep.include({ url: SETTINGS.endpoint, headers: { 'x-api-key': 'k' }, compression: 'gzip', temporalityPreference: 'delta' });
  });

  it('abort(): the export in flight completes at once as failed, a later one fails without being sent, and the exporter agent is destroyed', () => {
    const fake = fakePackages();
    const owned = createOtlpMeterProvider(SETTINGS, new CapturingLogger(), { load: fake.load });
    const exporter = fake.exporters[0];
    const agent = (exporter.options.httpAgentOptions as (protocol: string) => http.Agent)('http:');
    expect(agent).to.be.instanceOf(http.Agent);
    expect((exporter.options.httpAgentOptions as (protocol: string) => http.Agent)('http:')).to.equal(agent); // one agent
    const destroy = sinon.spy(agent, 'destroy');
    const first = sinon.spy();
    exporter.export({}, first);
    expect(exporter.sent).to.have.length(1);
    expect(first.called).to.equal(false);
    owned.abort();
    expect(first.calledOnce).to.equal(true);
    expect((first.firstCall.args[0] as Result).code).to.equal(1);
    expect(destroy.calledOnce).to.equal(true);
    const later = sinon.spy();
    exporter.export({}, later);
    expect(later.calledOnce).to.equal(true);
    expect(exporter.sent).to.have.length(1); // not sent
    exporter.sent[0]({ code: 0 }); // the late answer changes nothing
    expect(first.calledOnce).to.equal(true);
  });

  it('the meter is unipool with the package version (the instrumentation scope version)', () => {
    const real = new MeterProvider();
    const calls: unknown[][] = [];
    const provider = { getMeter: (name: string, version?: string) => (calls.push([name, version]), real.getMeter(name, version)) };
    const telemetry = OtelTelemetry.start({ pools: [] }, provider, undefined, new CapturingLogger());
    const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(calls).to.deep.equal([['unipool', version]]);
    return telemetry!.shutdown(100, new CapturingLogger());
  });
});
