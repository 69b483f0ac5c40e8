import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from '../../src';

declare module '../../src' {
  interface UnipoolSections {
    internal: HttpPoolConfig; // section name -> the config class it is validated as
  }
}

@UsePool(HttpConnectionPool, 'internal') // reads `internal` instead of `http`
export class InternalApi extends HttpServer {
  handle(_req: IncomingMessage, res: ServerResponse) {
    res.end('internal');
  }
}

@UsePool(HttpConnectionPool)
export class AuditedApi extends HttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config); // a constructor that wants its config takes it with @PoolConfig
  }

  handle(_req: IncomingMessage, res: ServerResponse) {
    res.end(`up to ${this.config.maxConnections} connections`);
  }
}
