import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from '../../src';
import { handleDemoRequest } from './demo-routes';

/** The sample's plain HTTP server: the demo routes of `demo-routes.ts` (`/`, `/slow`, `/cpu`, `/bytes`). */
@UsePool(HttpConnectionPool)
export class HttpApiServer extends HttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    handleDemoRequest(req, res);
  }
}
