// The subset of autocannon's programmatic API the bench uses (the package ships no types).
declare module 'autocannon' {
  interface AutocannonOptions {
    url: string;
    connections?: number;
    duration?: number;
    amount?: number;
    pipelining?: number;
    headers?: Record<string, string>;
    timeout?: number;
    method?: string;
  }
  interface Histogram {
    average: number;
    mean: number;
    p50: number;
    p99: number;
    total: number;
  }
  interface AutocannonResult {
    requests: Histogram;
    latency: Histogram;
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
  }
  /** A run under way: awaiting it gives the result; `stop()` ends it early (the result then covers what ran). */
  interface AutocannonInstance extends PromiseLike<AutocannonResult> {
    stop(): void;
    on(event: 'reqError', listener: (err: Error & { code?: string }) => void): this;
    on(event: 'response', listener: (client: unknown, statusCode: number) => void): this;
  }
  function autocannon(options: AutocannonOptions): AutocannonInstance;
  export = autocannon;
}
