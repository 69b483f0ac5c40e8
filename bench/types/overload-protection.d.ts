// The subset of overload-protection's API the bench uses (the package ships no types).
declare module 'overload-protection' {
  interface OverloadProtectionOptions {
    production?: boolean;
    clientRetrySecs?: number;
    sampleInterval?: number;
    maxEventLoopDelay?: number;
    maxHeapUsedBytes?: number;
    maxRssBytes?: number;
    errorPropagationMode?: boolean;
    logging?: boolean | string;
  }
  /** Answers 503 and returns true when the process is overloaded; else returns false. */
  type Protect = ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => boolean) & { stop(): void };
  function protect(framework: 'http', options?: OverloadProtectionOptions): Protect;
  export = protect;
}
