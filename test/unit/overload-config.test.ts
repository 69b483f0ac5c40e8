import 'reflect-metadata';
import { expect } from 'chai';
import { Type } from 'class-transformer';
import { IsObject, ValidateNested } from 'class-validator';
import { validateSection, type ConfigProblem, type CrossFieldRules } from '../../src';
import { OverloadConfig } from '../../src/overload';

/** A pool section as the wiring will shape it: the block sits under `overload`. */
class SectionWithOverload implements CrossFieldRules {
  @IsObject() @ValidateNested() @Type(() => OverloadConfig) overload: OverloadConfig = new OverloadConfig();

  crossCheck(): ConfigProblem[] {
    return this.overload.crossCheck().map((p) => ({ ...p, path: `overload.${p.path}` }));
  }
}

function problems(overload: unknown): string[] {
  return validateSection(SectionWithOverload, { overload }, 'http').problems.map((p) => `${p.path}: ${p.message}`);
}

describe('OverloadConfig (the per-pool `overload` block)', () => {
  it('defaults to today\'s behaviour: limiter none, no queue, no pressure thresholds, 503 + Retry-After 1, RESOURCE_EXHAUSTED', () => {
    const { value, problems: found } = validateSection(SectionWithOverload, {}, 'http');
    expect(found).to.deep.equal([]);
    const o = value!.overload;
    expect(o).to.be.instanceOf(OverloadConfig);
    expect(o).to.include({ limiter: 'none', initialLimit: 20, minLimit: 1, maxLimit: 200, maxConcurrency: 100, sampleWindow: 100, minSamples: 10 });
    expect(o.queue).to.include({ size: 0, timeout: 100, order: 'fifo' });
    expect(o.pressure).to.include({ maxEventLoopDelay: 0, maxEventLoopUtilization: 0, maxHeapUsedBytes: 0, maxRssBytes: 0, sampleInterval: 500 });
    expect(o.pressure.hysteresis).to.include({ exitRatio: 0.8, holdTime: 2000 });
    expect(o.actions).to.include({ closeKeepAlive: 0.9, refuseConnections: 0.95, shedWork: 1 });
    expect(o.shed).to.include({ httpStatus: 503, retryAfter: 1, grpcStatus: 'RESOURCE_EXHAUSTED' });
    expect(o.closeOnShed).to.equal(false);
    expect(o.criticalPaths).to.deep.equal([]);
  });

  it('takes Netflix concurrency-limits\' defaults for each algorithm\'s knobs, except gradient2.queueSize 2 (Netflix 4: a unit of a CPU-bound handler is a handler time of queueing per loop turn) and longWindow 6000 (10 minutes of 100 ms windows, as Netflix 600 of 1 s)', () => {
    const o = validateSection(SectionWithOverload, {}, 'http').value!.overload;
    expect(o.gradient2).to.include({ smoothing: 0.2, rttTolerance: 1.5, longWindow: 6000, queueSize: 2 });
    expect(o.vegas).to.include({ smoothing: 1, probeMultiplier: 30 });
    expect(o.vegas.alpha).to.equal(undefined);
    expect(o.aimd).to.include({ backoffRatio: 0.9, timeout: 5000 });
  });

  it('accepts every limiter, queue order, shedding status and gRPC status it documents', () => {
    for (const limiter of ['none', 'static', 'gradient2', 'vegas', 'aimd']) expect(problems({ limiter }), limiter).to.deep.equal([]);
    for (const order of ['fifo', 'lifo']) expect(problems({ queue: { size: 10, order } }), order).to.deep.equal([]);
    expect(problems({ shed: { httpStatus: 429, grpcStatus: 'UNAVAILABLE' } })).to.deep.equal([]);
    expect(problems({ criticalPaths: ['/healthz', '/readyz'] })).to.deep.equal([]);
  });

  it('lists every bad key at once, nested ones with their full path', () => {
    const found = problems({
      limiter: 'fast',
      maxConcurrency: 0,
      queue: { size: -1, order: 'random', timeout: 'x' },
      pressure: { maxEventLoopUtilization: 2, hysteresis: { exitRatio: 1.5 } },
      actions: { shedWork: -1 },
      shed: { httpStatus: 500, retryAfter: -1, grpcStatus: 'INTERNAL' },
      gradient2: { smoothing: 2, rttTolerance: 0.5 },
      aimd: { backoffRatio: 0.3 },
      criticalPaths: ['healthz', 3],
      bogus: true,
    });
    expect(found).to.include('http.overload.limiter: must be one of none, static, gradient2, vegas, aimd');
    expect(found).to.include('http.overload.maxConcurrency: must not be less than 1');
    expect(found).to.include('http.overload.queue.size: must not be less than 0');
    expect(found).to.include('http.overload.queue.order: must be one of fifo, lifo');
    expect(found).to.include('http.overload.queue.timeout: must be an integer number');
    expect(found).to.include('http.overload.pressure.maxEventLoopUtilization: must not be greater than 1');
    expect(found).to.include('http.overload.pressure.hysteresis.exitRatio: must not be greater than 0.99');
    expect(found).to.include('http.overload.actions.shedWork: must not be less than 0');
    expect(found).to.include('http.overload.shed.httpStatus: must be one of 503, 429');
    expect(found).to.include('http.overload.shed.retryAfter: must not be less than 0');
    expect(found).to.include('http.overload.shed.grpcStatus: must be one of RESOURCE_EXHAUSTED, UNAVAILABLE');
    expect(found).to.include('http.overload.gradient2.smoothing: must not be greater than 1');
    expect(found).to.include('http.overload.gradient2.rttTolerance: must not be less than 1');
    expect(found).to.include('http.overload.aimd.backoffRatio: must not be less than 0.5');
    expect(found.some((p) => p.startsWith('http.overload.criticalPaths: '))).to.equal(true);
    expect(found).to.include('http.overload.bogus: is not a known key');
  });

  it('cross-field rules: minLimit <= initialLimit <= maxLimit, every broken rule listed', () => {
    expect(problems({ minLimit: 50, initialLimit: 20, maxLimit: 10 })).to.deep.equal([
      'http.overload.initialLimit: must not be less than minLimit (50)',
      'http.overload.initialLimit: must not be greater than maxLimit (10)',
      'http.overload.minLimit: must not be greater than maxLimit (10)',
    ]);
    expect(problems({ minLimit: 5, initialLimit: 5, maxLimit: 5 })).to.deep.equal([]);
  });

  it('cross-field rules: a queue needs a timeout; graded actions start in order; aimd backoff below 1', () => {
    expect(problems({ queue: { size: 10, timeout: 0 } })).to.deep.equal(['http.overload.queue.timeout: must be at least 1 ms when queue.size is over 0']);
    expect(problems({ actions: { closeKeepAlive: 1, refuseConnections: 0.9, shedWork: 0.8 } })).to.deep.equal([
      'http.overload.actions.closeKeepAlive: must not be greater than refuseConnections (0.9)',
      'http.overload.actions.refuseConnections: must not be greater than shedWork (0.8)',
    ]);
    // 0 turns one action off; the order is checked among the actions that are on.
    expect(problems({ actions: { closeKeepAlive: 0, refuseConnections: 0, shedWork: 0.5 } })).to.deep.equal([]);
    expect(problems({ aimd: { backoffRatio: 1 } })).to.deep.equal(['http.overload.aimd.backoffRatio: must be less than 1']);
  });

  it('a cross-field rule touching a key that already failed its own rule is not repeated', () => {
    expect(problems({ minLimit: 'x', initialLimit: 20 })).to.deep.equal(['http.overload.minLimit: must be an integer number']);
  });
});
